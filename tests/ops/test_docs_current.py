"""The operator's docs state what this release does: figures they quote that the code
decides (the schema head, defaults) are read from the code here."""

from __future__ import annotations

import re
from pathlib import Path

from host_probe.commands.cli import build_parser as probe_parser
from host_probe.settings import ProbeSettings
from gate_server.cli.serve import head_revision

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_operations_md_quotes_this_releases_head_revision():
    quoted = re.findall(r"head revision (\w+)", (DOCS / "operations.md").read_text())
    assert quoted and set(quoted) == {head_revision("sqlite://")}


def test_probe_md_states_the_agents_file_hook_default():
    # the agent takes --file-hook, and its default is the probe's one settings model's
    agent = next(a for a in probe_parser()._subparsers._group_actions[0].choices.items() if a[0] == "agent")[1]
    assert any(a.dest == "file_hook" for a in agent._actions)
    default = ProbeSettings.model_fields["file_hook"].default
    row = next(line for line in (DOCS / "probe.md").read_text().splitlines() if line.startswith("| `--file-hook`"))
    assert f"the same default, `{default}`" in row or f"with `{default}` as its default" in row


def test_every_test_docs_security_md_names_as_a_proof_exists():
    # `file.py::test` names a file; a following `::test` in the same cell names one of that file.
    names, current = [], None
    for token in re.findall(r"`((?:tests/[\w/]+\.py)?::\w+|tests/[\w/]+\.py::\w+)`", (DOCS / "security.md").read_text()):
        path, _, test = token.partition("::")
        current = path or current
        names.append((current, test))
    assert len(names) > 20
    root = DOCS.parent
    missing = [f"{path}::{test}" for path, test in names
               if not (root / path).exists() or f"def {test}(" not in (root / path).read_text()]
    assert not missing, missing
