"""On-call notifications: messages.py builds what a webhook receives (generic JSON,
Slack blocks), delivery.py posts it (background pool, bounded retries, metrics)."""
