"""The consumer's one pass over a batch (read the batch's documents once, fold in memory, write
each changed document once) leaves every read model, row and board exactly as folding the
same records one by one does, with duplicates and replays; whatever the one pass cannot
decide alone (a document another writer changed, a stream not routed yet, a failure) falls
back to the record-by-record fold, which has the answer."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from customer_events import Record, drafted, payload, pipeline, registered
from customer_events import changed as details_changed
from customer_events import metadata as envelope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracer
from prometheus_client import Counter
from rows_and_boards import at_least_once
from test_kpi_boards import histories as customer_and_order_histories
from test_loyalty_boards import histories as member_histories
from test_redelivery_property import histories as sales_histories
from test_service_boards import histories as ticket_histories

from crm_contracts import cloudevents
from crm_contracts import pipeline as p
from crm_projections.application.boards import RowsProjector
from crm_projections.application.projector import OutOfOrder
from crm_projections.bootstrap import ProjectionsService, bootstrap
from crm_projections.config import ProjectionsSettings
from crm_projections.domain.streams import stream_key
from crm_projections.entrypoints.consumer import OneRecord, ProjectionConsumer
from crm_runtime.documents import open_document_client
from crm_runtime.settings import RuntimeSettings
from crm_runtime.telemetry import build_tracer_provider, current_trace_id

LEFT_OUT = {"read_model_positions"}
"""Collections that record when, not what: positions are flushed at most once a second."""


def as_records(deliveries: list[Record], first_offset: int = 0) -> list[OneRecord]:
    records = []
    for offset, (metadata, event) in enumerate(deliveries, start=first_offset):
        key, headers, body = cloudevents.encode(metadata, payload(event))
        context = stream_key(metadata).partition(":")[0]
        raw = SimpleNamespace(topic=f"crm.{context}.events", partition=0, offset=offset, key=key)
        records.append(OneRecord(raw_message=raw, headers=headers, body=body))
    return records


def consumer_of(service: ProjectionsService, *, one_pass: bool = True) -> ProjectionConsumer:
    counts = Counter("events", "Events by outcome.", ["projection", "outcome"], registry=None)
    return ProjectionConsumer(service, counts, one_pass=one_pass)


async def everything(service: ProjectionsService) -> dict[str, list[dict[str, Any]]]:
    """Every collection of the read models, boards settled, as sorted documents."""
    for projector in service.projectors:
        if isinstance(projector, RowsProjector):
            await projector.refresh_pending()
    database = service.client["crm_projections"]
    names = sorted(set(await database.list_collection_names()) - LEFT_OUT)
    found = {}
    for name in names:
        documents = [d async for d in database[name].find({}).sort("_id", 1)]
        if name == "boards":
            documents = [{k: v for k, v in d.items() if k != "revision"} for d in documents]
        if documents:  # an empty collection is the same as none
            found[name] = documents
    return found


def new_service() -> ProjectionsService:
    settings = ProjectionsSettings(embedded_backend="memory", max_attempts=2)
    client = open_document_client(RuntimeSettings(embedded_backend="memory"))
    tracing = build_tracer_provider("crm-projections", exporter=InMemorySpanExporter())
    return bootstrap(settings, document_client=client, tracer_provider=tracing)


@st.composite
def mixed_histories(draw: st.DrawFn) -> dict[str, list[Record]]:
    """Streams of all four contexts (each strategy's own), keyed by stream."""
    streams: dict[str, list[Record]] = {}
    drawn = [
        draw(sales_histories())[0],
        draw(customer_and_order_histories()),
        draw(ticket_histories()),
        draw(member_histories()),
    ]
    for part in drawn:
        for records in part.values():
            streams.setdefault(stream_key(records[0][0]), records)
    return streams


def batches(data: st.DataObject, records: list[OneRecord]) -> list[list[OneRecord]]:
    cut, start = [], 0
    while start < len(records):
        size = data.draw(st.integers(1, 40), label="batch size")
        cut.append(records[start : start + size])
        start += size
    return cut


@pytest.mark.timeout(300)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams=mixed_histories(), data=st.data())
def test_one_pass_per_batch_folds_every_read_model_as_record_by_record(
    streams: dict[str, list[Record]], data: st.DataObject
) -> None:
    records = as_records(at_least_once(data, streams))
    cut = batches(data, records)

    async def compare() -> None:
        at_once, one_by_one = new_service(), new_service()
        try:
            fast, slow = consumer_of(at_once), consumer_of(one_by_one, one_pass=False)
            for batch in cut:
                await fast.fold_batch(batch)
                await slow.fold_batch(batch)
            left, right = await everything(at_once), await everything(one_by_one)
            assert sorted(left) == sorted(right)
            for name in sorted(left, key=lambda n: ("boards" in n, n)):  # rows first
                assert left[name] == right[name], name
        finally:
            await at_once.close()
            await one_by_one.close()

    asyncio.run(compare())


def contacts_records(*events: tuple[Any, int]) -> list[OneRecord]:
    return as_records([(envelope(event, "cus_1", sequence), event) for event, sequence in events])


async def test_a_document_changed_under_the_batch_is_folded_again_record_by_record(
    service: ProjectionsService, span_exporter: InMemorySpanExporter
) -> None:
    """Another writer (a second consumer during a rebalance) wrote the document between the
    batch's read and its write: the guarded replace matches nothing, the batch is folded
    record by record, and the event already folded there is a duplicate."""
    consumer = consumer_of(service)
    first, second = registered("cus_1"), details_changed("cus_1", name="Ada King")
    await consumer.fold_batch(contacts_records((first, 1)))
    documents = service.customer360.documents
    prepare = service.customer360.prepare_batch

    async def another_writer_meanwhile(items: Any) -> Any:
        prepared = await prepare(items)
        service.customer360.prepare_batch = prepare  # type: ignore[method-assign]
        await consumer_of(service).fold_batch(contacts_records((second, 2)))
        return prepared

    service.customer360.prepare_batch = another_writer_meanwhile  # type: ignore[method-assign]
    span_exporter.clear()
    await consumer.fold_batch(contacts_records((second, 2)))

    stored = await documents.find_one({"_id": "cus_1"})
    assert (stored["revision"], stored["profile"]["name"]) == (2, "Ada King")
    # the one pass wrote the other read models; the record-by-record fold found duplicates
    assert consumer._applied.labels("customer360", "duplicate")._value.get() == 1
    assert consumer._batches.labels("record_by_record")._value.get() == 1
    assert [s.name for s in span_exporter.get_finished_spans()].count(
        "crm.contacts.events fold"
    ) == 3


def reads_of(collection: Any) -> list[list[str]]:
    """The ids each ``find`` by ids on ``collection`` asks for, from now on."""
    asked: list[list[str]] = []
    find = collection.find

    def spied(query: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(query, dict) and isinstance(query.get("_id"), dict):
            asked.append(list(query["_id"]["$in"]))
        return find(query, *args, **kwargs)

    collection.find = spied
    return asked


async def test_a_batch_reads_only_the_documents_this_process_did_not_just_write(
    service: ProjectionsService,
) -> None:
    """What the last batches wrote is kept as written: the next batch reads only the others
    (and the routes it has not learnt), and folds the same."""
    consumer = consumer_of(service)
    await consumer.fold_batch(contacts_records((registered("cus_1"), 1)))
    asked = reads_of(service.customer360.documents)
    await consumer.fold_batch(
        contacts_records((details_changed("cus_1", name="Ada King"), 2))
        + as_records([(envelope(registered("cus_2"), "cus_2", 1), registered("cus_2"))])
    )

    assert asked == [["cus_2"]]
    stored = await service.customer360.documents.find_one({"_id": "cus_1"})
    assert (stored["revision"], stored["profile"]["name"]) == (2, "Ada King")
    assert consumer._batches.labels("one_pass")._value.get() == 2


async def test_a_document_another_process_wrote_since_is_folded_from_the_store(
    settings: ProjectionsSettings, memory_client: Any, tracer_provider: Any
) -> None:
    """Another process (a replica folding another topic) wrote a document this one keeps:
    the batch's guarded write fails, the batch is folded record by record from the store,
    nothing is lost, and the next batches read every document until the distrust passes."""
    here = bootstrap(settings, document_client=memory_client, tracer_provider=tracer_provider)
    there = bootstrap(settings, document_client=memory_client, tracer_provider=tracer_provider)
    consumer = consumer_of(here)
    await consumer.fold_batch(contacts_records((registered("cus_1"), 1)))
    await consumer_of(there).fold_batch(
        contacts_records((details_changed("cus_1", name="Ada King"), 2))
    )
    await consumer.fold_batch(contacts_records((details_changed("cus_1", email="a@k.io"), 3)))

    stored = await here.customer360.documents.find_one({"_id": "cus_1"})
    assert stored["revision"] == 3
    assert (stored["profile"]["name"], stored["profile"]["email"]) == ("Ada King", "a@k.io")
    assert consumer._batches.labels("record_by_record")._value.get() == 1
    asked = reads_of(here.customer360.documents)
    await consumer.fold_batch(contacts_records((details_changed("cus_1", name="Ada L"), 4)))
    assert asked == [["cus_1"]]  # not the copy written record by record: distrusted
    assert consumer._batches.labels("one_pass")._value.get() == 2


async def test_a_stream_not_routed_yet_goes_record_by_record_and_is_retried(
    service: ProjectionsService,
) -> None:
    (sent,) = pipeline("quo_1", p.QuoteSent(quote_id="quo_1"), first=2)  # names nobody
    with pytest.raises(OutOfOrder, match="has not seen the first event"):
        await consumer_of(service).fold_batch(as_records([sent]))  # fetched again later


async def test_the_one_pass_spans_continue_each_records_trace(
    service: ProjectionsService, span_exporter: InMemorySpanExporter
) -> None:
    records = contacts_records((registered("cus_1"), 1), (registered("cus_1"), 1))
    for n, record in enumerate(records, start=1):
        record.headers["traceparent"] = f"00-{n:032x}-{n:016x}-01"
    await consumer_of(service).fold_batch(records)

    spans = span_exporter.get_finished_spans()
    folds = [s for s in spans if s.name == "crm.contacts.events fold"]
    assert len(folds) == 2
    assert {s.context.trace_id for s in folds} == {
        int(r.headers["traceparent"].split("-")[1], 16) for r in records
    }
    upserts = [s for s in spans if s.name == "customer360.upsert"]
    assert [s.parent.span_id for s in upserts] == [s.context.span_id for s in folds]
    assert [s.name for s in spans if s.name == "customer360.write"] == ["customer360.write"]


async def test_a_record_that_failed_once_and_passes_in_one_pass_starts_its_budget_afresh(
    service: ProjectionsService,
) -> None:
    (sent,) = pipeline("quo_1", p.QuoteSent(quote_id="quo_1"), first=2)
    first = pipeline("quo_1", drafted("quo_1", "opp_1", "cus_1"))
    consumer = consumer_of(service)
    with pytest.raises(OutOfOrder):  # the quote's draft has not come: retried
        await consumer.fold_batch(as_records([sent], first_offset=7))
    assert list(consumer._attempts.values()) == [1]
    await consumer.fold_batch(as_records(first, first_offset=6))
    await consumer.fold_batch(as_records([sent], first_offset=7))  # folded in one pass now
    assert consumer._attempts == {}


async def test_with_nowhere_to_send_spans_the_fold_makes_none_and_keeps_the_trace_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No OTEL exporter configured (``make up``'s default): the per-event spans would be built
    and dropped, so none is built; a fold record by record (where the warnings are logged)
    still runs in the record's trace. With an exporter configured, the provider's tracer."""
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    settings = ProjectionsSettings(embedded_backend="memory")
    quiet = bootstrap(
        settings, document_client=open_document_client(RuntimeSettings(embedded_backend="memory"))
    )
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    exporting = bootstrap(
        settings, document_client=open_document_client(RuntimeSettings(embedded_backend="memory"))
    )
    try:
        assert isinstance(quiet.fold_tracer, NoOpTracer)
        assert not isinstance(exporting.fold_tracer, NoOpTracer)
        seen: list[str | None] = []
        model = quiet.customer360.model

        def traced_project(*args: Any) -> Any:
            seen.append(current_trace_id())
            return model.project(*args)

        quiet.customer360.model = dataclasses.replace(model, project=traced_project)
        records = contacts_records((registered("cus_1"), 1), (details_changed("cus_1"), 2))
        for n, record in enumerate(records, start=1):
            record.headers["traceparent"] = f"00-{n:032x}-{n:016x}-01"
        await consumer_of(quiet).fold_batch(records[:1])
        await consumer_of(quiet, one_pass=False).fold_batch(records[1:])
        stored = await quiet.customer360.documents.find_one({"_id": "cus_1"})
        assert stored["revision"] == 2
        assert seen[1:] == [f"{2:032x}"]
    finally:
        await quiet.close()
        await exporting.close()
