"""syscall-gate's gate server: storage, the judge (analysis) and the Flask app.

Importing this package imports neither Flask nor bcc: the server must run on
machines without bcc, and what it shares with the probe lives in `gate_contract`.
"""

__version__ = "0.1.0"
