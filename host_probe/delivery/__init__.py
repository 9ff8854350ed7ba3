"""Delivering windows: the sink the engine hands them to, the spool on local disk
while a destination is away, the sender thread, and the destinations (the database
through the contract's writer, or the gate server over HTTPS)."""
