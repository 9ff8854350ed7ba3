"""The dashboard: server-rendered pages for reviewers (services, recordings, checks, verdicts)."""
