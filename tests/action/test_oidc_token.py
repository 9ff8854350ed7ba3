"""With no `token` input, the client asks the runner for the job's GitHub OIDC token and the
gate accepts it: a paused canary still fails the step. Without id-token permission, exit 2."""

from __future__ import annotations

from tests.server.oidc_issuer import issuer, oidc_gate  # noqa: F401 -- fixtures


def test_without_a_token_the_jobs_oidc_token_gates_the_rollout(action_runner, oidc_gate, issuer):
    action_runner.env.update(ACTIONS_ID_TOKEN_REQUEST_URL=f"{issuer.url}/token?api-version=2.0",
                             ACTIONS_ID_TOKEN_REQUEST_TOKEN=issuer.request_token)
    run = action_runner.run(gate_url=oidc_gate.url, token="", service="web", baseline_version="v1",
                            canary_version="v3-bad", github_token="")
    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "pause"
    assert "::add-mask::" in run.stdout


def test_without_a_token_or_id_token_permission_the_step_says_what_to_do(action_runner, oidc_gate):
    run = action_runner.run(gate_url=oidc_gate.url, token="", service="web", baseline_version="v1",
                            canary_version="v3-bad")
    assert run.returncode == 2
    assert "id-token: write" in run.log
