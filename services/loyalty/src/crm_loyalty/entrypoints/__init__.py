"""HTTP API, Kafka consumer, outbox relay and scheduler processes."""
