"""Entry points: the HTTP API, the outbox relay and the scheduler processes."""
