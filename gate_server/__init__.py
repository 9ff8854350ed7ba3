"""syscall-gate's gate server: storage, the judge (analysis) and the Flask app.

Importing this package imports neither Flask nor bcc: the probe shares
`gate_server.storage` and the server must run on machines without bcc.
"""

__version__ = "0.1.0"
