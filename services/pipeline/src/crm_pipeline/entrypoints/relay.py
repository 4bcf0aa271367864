"""The outbox relay process: publishes the pipeline event store to Kafka (see crm_runtime)."""

from __future__ import annotations

from fastapi import FastAPI

from crm_pipeline.bootstrap import PipelineService
from crm_runtime import relay_process


def create_relay_app(service: PipelineService) -> FastAPI:
    return relay_process.create_relay_app("pipeline", service)
