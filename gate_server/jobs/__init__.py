"""Work done after a request (webhook deliveries, GitHub deployment reviews) through a
durable queue in the database, taken by whichever server process leases a job first."""
