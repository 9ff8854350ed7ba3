"""The messages of on-call notifications: what a webhook receives for a verdict document.

A URL written `slack+https://...` gets a Slack incoming-webhook message
({"text", "blocks"}); any other URL gets the generic JSON payload (docs/operations.md).
Pure functions of the document: sending them is notify/delivery.py's job.
"""

from __future__ import annotations

from typing import Any, Optional

from gate_server.analysis.entries import entries, grouped_indexes, walk_groups
from gate_server.analysis.verdict import severity_rank

SLACK_PREFIX = "slack+"
TOP_ANOMALIES = 5
# Block Kit refuses a longer header text, and with it the whole message.
SLACK_HEADER_LIMIT = 150


def top_anomalies(document: dict[str, Any], limit: int = TOP_ANOMALIES) -> list[dict[str, Any]]:
    """The heaviest anomalies, a group counted once (by its head: a new program's exec, the heaviest rate shift)."""
    anomalies = document.get("anomalies") or []
    heads = {group.get("anomaly") for _, group in walk_groups(document.get("groups") or [])}
    hidden = grouped_indexes(document) - heads
    ranked = sorted((a for index, a in enumerate(anomalies) if index not in hidden),
                    key=lambda a: severity_rank(a.get("severity")))
    return [
        {field: anomaly.get(field) for field in
         ("kind", "key", "change", "severity", "baseline_rate", "canary_rate", "reason")}
        for anomaly in ranked[:limit]
    ]


def lineage(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The check's groups as a receiver reads them: each new program, what it caused, its children;
    the rate shifts (cause "rates", no program)."""
    def shaped(group: dict[str, Any]) -> dict[str, Any]:
        return {"cause": group.get("cause", "program"), "program": group.get("program"),
                "severity": group.get("severity"),
                "started_by": list(group.get("started_by") or []), "summary": group.get("summary"),
                "anomaly_count": 1 + len(group.get("anomalies") or []),
                "children": [shaped(child) for child in group.get("children") or [] if isinstance(child, dict)]}
    return [shaped(group) for group in document.get("groups") or [] if isinstance(group, dict)]


def check_link(document: dict[str, Any]) -> Optional[str]:
    """The check's URL when it is absolute (GATE_PUBLIC_URL set); a bare path is no link to a receiver."""
    url = str(document.get("url") or "")
    return url if url.startswith(("https://", "http://")) else None


def generic_payload(document: dict[str, Any]) -> dict[str, Any]:
    return {
        # "check.pause" for a rollout check, "drift.pause" for `gate-server drift --notify`.
        "event": f"{document.get('kind', 'check')}.{document.get('verdict')}",
        "check_id": document.get("id"),
        "service": document.get("service"),
        "baseline_version": document.get("baseline_version"),
        "canary_version": document.get("canary_version"),
        "stage": document.get("stage") or "",
        "verdict": document.get("verdict"),
        "score": document.get("score"),
        "anomaly_count": len(document.get("anomalies") or []),
        "top_anomalies": top_anomalies(document),
        "groups": lineage(document),
        "reasons": list(document.get("reasons") or []),
        "url": check_link(document),
        "created_at": document.get("created_at"),
    }


def _slack_escape(text: Any) -> str:
    # Slack's mrkdwn treats &, < and > as control characters (links, mentions).
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_code(text: Any) -> str:
    """Text shown as code: mrkdwn has no escape for a backtick, so one in a key (the
    canary names its files) would end the code span and let the rest be formatted."""
    return f"`{_slack_escape(text).replace('`', 'ˋ')}`"


def _slack_entry(what: str, entry: dict[str, Any]) -> list[str]:
    """A group: its summary, the programs it exec'd nested; an anomaly: one line."""
    if what == "group":
        return [f"{'    ' * depth}{'•' if not depth else '◦'} *{_slack_escape(group.get('severity'))}* "
                f"{_slack_escape(group.get('summary'))}" for depth, group in walk_groups([entry])]
    return [f"• *{_slack_escape(entry.get('severity'))}* {_slack_code(entry.get('kind'))} "
            f"{_slack_code(entry.get('key'))} ({_slack_escape(entry.get('change'))}): {_slack_escape(entry.get('reason'))}"]


def slack_payload(document: dict[str, Any]) -> dict[str, Any]:
    verdict = str(document.get("verdict", "")).upper()
    service = _slack_escape(document.get("service"))
    versions = f"{_slack_escape(document.get('baseline_version'))} → {_slack_escape(document.get('canary_version'))}"
    stage = _slack_escape(document.get("stage") or "-")
    url = check_link(document)
    if document.get("kind") == "drift":
        versions = f"{_slack_escape(document.get('version'))} drifted from its own past"
    summary = f"syscall-gate {verdict}: {service} {versions} (score {document.get('score')})"
    lines = [line for what, entry in entries(document)[:TOP_ANOMALIES] for line in _slack_entry(what, entry)] or [
        "No anomalies; " + "; ".join(_slack_escape(r) for r in document.get("reasons") or ["see the check"])]
    header = f"Rollout {verdict}: {document.get('service')}"
    if len(header) > SLACK_HEADER_LIMIT:
        header = header[:SLACK_HEADER_LIMIT - 1] + "…"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Versions*\n{versions}"},
            {"type": "mrkdwn", "text": f"*Stage*\n{stage}"},
            {"type": "mrkdwn", "text": f"*Verdict*\n{verdict}"},
            {"type": "mrkdwn", "text": f"*Score*\n{document.get('score')}"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
    ]
    if url:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open the check"}, "url": url},
        ]})
    return {"text": summary, "blocks": blocks}


def payload_for(url: str, document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(URL to POST to, body) for a configured webhook URL."""
    if url.startswith(SLACK_PREFIX):
        return url[len(SLACK_PREFIX):], slack_payload(document)
    return url, generic_payload(document)
