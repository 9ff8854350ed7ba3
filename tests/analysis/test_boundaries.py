"""The judge is pure: importing it, and the contract's modules it reads, pulls in
neither Flask nor SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys

from tests.test_boundaries import CONTRACT_WITHOUT_SQL

IMPORT_THE_JUDGE = """
import importlib, pkgutil, sys
import gate_server.analysis as analysis
names = [info.name for info in pkgutil.walk_packages(analysis.__path__, "gate_server.analysis.")]
for name in names + {contract!r}:
    importlib.import_module(name)
print(len(names), sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))
"""


def test_analysis_imports_neither_flask_nor_sqlalchemy():
    code = IMPORT_THE_JUDGE.format(contract=list(CONTRACT_WITHOUT_SQL))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, loaded = result.stdout.strip().split(" ", 1)
    assert int(count) >= 12 and loaded == "[]"
