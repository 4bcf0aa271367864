"""Kafka brokers the integration tests run against: embedded always, real Kafka with Docker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import NO_DOCKER, docker_available


@pytest.fixture(scope="session")
def real_kafka() -> Iterator[str]:
    if not docker_available():
        pytest.skip(NO_DOCKER)
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as container:
        yield container.get_bootstrap_server()


@pytest.fixture(params=["embedded", "kafka"])
def any_kafka(request: pytest.FixtureRequest) -> str:
    """The embedded Tansu broker, and Apache Kafka through testcontainers where Docker runs."""
    name = "embedded_kafka" if request.param == "embedded" else "real_kafka"
    return str(request.getfixturevalue(name))
