"""Edges of the projections service: Kafka subscribers, HTTP queries, the rebuild CLI."""
