"""The receiver's config file: a mistake stops the server's start with one sentence
naming the file and the field, before any webhook is accepted."""

from __future__ import annotations

import pytest

from gate_server.github_app.config import GitHubAppConfigError, load_github_app_config
from gate_server.settings import Settings

GOOD = """\
app_id: 12345
private_key_file: {key}
environments:
  - {{repository: acme/checkout, environment: production, service: checkout, baseline_version: current}}
"""


def settings_for(tmp_path, text: str, **overrides) -> Settings:
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    path = tmp_path / "github-app.yml"
    path.write_text(text.format(key=tmp_path / "key.pem"))
    return Settings.from_env({}, github_app_config=str(path), github_webhook_secret="secret", **overrides)


def test_a_good_config_maps_environments_to_rules(tmp_path):
    config = load_github_app_config(settings_for(tmp_path, GOOD))

    rule = config.rule_for("ACME/Checkout", "production")
    assert (config.app_id, rule.service, rule.baseline_version, rule.canary_version) == \
        ("12345", "checkout", "current", "{sha}")
    assert (rule.wait_timeout, rule.poll_interval, rule.fail_on) == (900.0, 30.0, "pause")
    assert config.rule_for("acme/checkout", "staging") is None
    assert config.api_url == "https://api.github.com" and config.webhook_secret == b"secret"


@pytest.mark.parametrize("text, message", [
    ("app_id: 1\nenvironments: []\n", "environments: List should have at least 1 item"),
    (GOOD.replace("service: checkout, ", ""), "environments.0.service: Field required"),
    (GOOD.replace("baseline_version: current", "baseline_version: v1, canary_version: '{{tag}}'"),
     "a template may name only {sha}, {ref}, {run_id}, {environment}"),
    (GOOD.replace("baseline_version: current", "baseline_version: v1, wait_timeout: soon"),
     "environments.0.wait_timeout: Value error, invalid duration 'soon'"),
    (GOOD.replace("app_id: 12345", "app_id: 12345\nwebhook_secret: x"), "webhook_secret: Extra inputs"),
    (GOOD.replace("private_key_file: {key}", "private_key_file: /nonexistent/app.pem"),
     "private_key_file: cannot read /nonexistent/app.pem"),
    ("app_id: [", "not valid YAML"),
])
def test_a_broken_config_names_the_field(tmp_path, text, message):
    with pytest.raises(GitHubAppConfigError) as raised:
        load_github_app_config(settings_for(tmp_path, text))
    assert str(tmp_path / "github-app.yml") in str(raised.value)
    assert message in str(raised.value)


def test_credentials_come_from_the_environment_when_the_file_names_none(tmp_path):
    text = GOOD.replace("private_key_file: {key}\n", "")
    config = load_github_app_config(settings_for(tmp_path, text, github_app_private_key="PEM FROM ENV"))
    assert config.private_key == "PEM FROM ENV"

    with pytest.raises(GitHubAppConfigError, match="no App private key: set private_key_file in the file or "
                                                   "GATE_GITHUB_APP_PRIVATE_KEY"):
        load_github_app_config(settings_for(tmp_path, text))


def test_serve_refuses_a_broken_config_with_exit_2_and_one_line(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "github-app.yml"
    config.write_text("app_id: 1\nenvironments:\n  - {repository: acme, environment: prod}\n")
    env = {"PATH": "/usr/bin:/bin", "GATE_DATA_DIR": str(tmp_path / "data"), "GATE_GITHUB_APP_CONFIG": str(config),
           "GATE_GITHUB_WEBHOOK_SECRET": "secret"}
    result = subprocess.run([sys.executable, "-m", "gate_server.cli", "serve", "--bind", "127.0.0.1:9"],
                            env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2, result.stderr
    assert f"{config}: environments.0.repository: String should match pattern" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "gate.db").exists(), "refused before the database is touched"
