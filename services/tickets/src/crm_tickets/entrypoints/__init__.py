"""HTTP API, outbox relay and scheduler processes of the tickets service."""
