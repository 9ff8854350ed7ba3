"""The gate as a GitHub App's custom deployment protection rule: GitHub posts a
`deployment_protection_rule` webhook when a job reaches a protected environment;
the gate verifies it, runs the mapped check in the background, and approves or
rejects the deployment through GitHub's REST API (docs/action.md)."""
