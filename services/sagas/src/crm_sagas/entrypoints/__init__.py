"""Entry points: the HTTP API, the Kafka consumer and the runner process."""
