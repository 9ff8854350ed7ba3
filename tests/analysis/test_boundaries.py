"""The judge is pure: importing it pulls in neither Flask nor SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["config", "config_errors", "features", "judge", "observation", "patterns", "profile", "rates",
           "rules", "scoring", "stability", "verdict"]


def test_analysis_imports_neither_flask_nor_sqlalchemy():
    imports = "; ".join(f"import gate_server.analysis.{name}" for name in MODULES)
    code = f"import sys; {imports}; print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
