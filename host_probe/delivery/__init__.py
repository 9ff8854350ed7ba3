"""Delivering windows: `spool` (the durable queue on local disk the engine writes
to), `sender` (the thread that drains it) and `destinations` (the database through
the contract's writer, or the gate server over HTTPS)."""
