"""Commands on streams (crm_runtime.streams): given a store's history, when a command runs,
then what it appended, what it answered, and what a retry of its Idempotency-Key answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_contracts.loyalty import StoreOpened
from crm_contracts.registry import DomainEvent
from crm_runtime.eventstore import CommandContext, EventStore, Idempotency, WrongExpectedVersion
from crm_runtime.personal_data import SealedEvents
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher
from crm_runtime.streams import (
    Decider,
    Dependencies,
    Loaded,
    execute,
    load,
    retry_on_conflict,
)
from crm_runtime.telemetry import build_tracer_provider
from crm_runtime.testing import memory_document_client

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
KEY = Idempotency(key="user:u1:open-berlin", fingerprint="f1")


@dataclass(frozen=True)
class OpenStore:
    store_id: str
    name: str


@dataclass(frozen=True)
class Store:
    store_id: str
    name: str


State = Store | None


def decide(command: OpenStore, state: State) -> list[DomainEvent]:
    if state is not None:
        return []  # opened already: a no-op
    return [StoreOpened(store_id=command.store_id, name=command.name, city="Berlin", opened_at=NOW)]


def evolve(state: State, event: DomainEvent) -> State:
    if not isinstance(event, StoreOpened):
        return state
    return Store(event.store_id, event.name)


def store_view(state: Store, version: int) -> dict[str, Any]:
    return {"id": state.store_id, "name": state.name, "version": version}


STORES: Decider[OpenStore, State] = Decider.aggregate(
    service="loyalty",
    kind="store",
    existing=Store,
    initial=None,
    decide=decide,
    evolve=evolve,
    view=store_view,
    personal=frozenset({"name"}),
    placeholders={"name": "[erased]"},
)


def context(command_id: str = "cmd-1") -> CommandContext:
    return CommandContext(command_id, "corr-1", command_id, "user:u1", None)


class RacedStore(EventStore):
    """A store read just before a rival request with the same key committed: its first
    key lookup and its first version read miss the rival's commit."""

    missed = 0

    async def find_by_idempotency_key(self, idempotency: Idempotency) -> Any:
        if self.missed < 1:
            self.missed += 1
            return None
        return await super().find_by_idempotency_key(idempotency)

    async def version_of(self, stream_id: str) -> int:
        if self.missed < 2:
            self.missed += 1
            return 0
        return await super().version_of(stream_id)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def database() -> AsyncIterator[Any]:
    client = memory_document_client()
    yield client["stream_commands"]
    await client.close()


def dependencies(database: Any, spans: InMemorySpanExporter, store: EventStore) -> Dependencies:
    ids = count(1)
    return Dependencies(
        store=store,
        clock=lambda: NOW,
        new_id=lambda prefix: f"{prefix}_{next(ids)}",
        tracer=build_tracer_provider("crm-test", exporter=spans).get_tracer("crm.test"),
        sealed=SealedEvents(PersonalDataCipher(MongoKeyVault(database["data_keys"]))),
    )


@pytest.fixture
async def deps(database: Any, spans: InMemorySpanExporter) -> Dependencies:
    store = EventStore(database, source="/crm/test")
    await store.create_indexes()
    return dependencies(database, spans, store)


async def test_a_command_appends_what_it_decided_and_answers_the_new_state(
    deps: Dependencies, spans: InMemorySpanExporter
) -> None:
    outcome = await execute(deps, STORES, "store/ber", OpenStore("ber", "Mitte"), context())

    assert (outcome.view, outcome.version) == ({"id": "ber", "name": "Mitte", "version": 1}, 1)
    assert (outcome.changed, outcome.replayed) == (True, False)
    assert [e.metadata.type for e in await deps.store.load("store/ber")] == [
        "crm.loyalty.StoreOpened"
    ]
    names = {span.name for span in spans.get_finished_spans()}
    assert {"loyalty.OpenStore", "eventstore.append"} <= names


async def test_a_no_op_answers_the_state_as_it_is_and_appends_nothing(deps: Dependencies) -> None:
    await execute(deps, STORES, "store/ber", OpenStore("ber", "Mitte"), context("cmd-1"))

    again = await execute(deps, STORES, "store/ber", OpenStore("ber", "Other"), context("cmd-2"))

    assert (again.view["name"], again.version, again.changed) == ("Mitte", 1, False)
    assert len(await deps.store.load("store/ber")) == 1


async def test_a_stale_expected_version_is_refused(deps: Dependencies) -> None:
    with pytest.raises(WrongExpectedVersion):
        await execute(
            deps, STORES, "store/ber", OpenStore("ber", "Mitte"), context(), expected_version=3
        )
    assert await deps.store.load("store/ber") == []


async def test_a_repeated_key_answers_the_first_answer_sealed_at_rest(deps: Dependencies) -> None:
    first = await execute(
        deps, STORES, "store/ber", OpenStore("ber", "Mitte"), context("cmd-1"), idempotency=KEY
    )

    repeat = await execute(
        deps, STORES, "store/ber", OpenStore("ber", "Mitte"), context("cmd-2"), idempotency=KEY
    )

    assert (repeat.view, repeat.version, repeat.replayed) == (first.view, 1, True)
    commit = await deps.store.find_by_idempotency_key(KEY)
    assert commit is not None
    assert PersonalDataCipher.is_sealed(commit.result["view"]["name"])
    assert commit.result["view"]["id"] == "ber"


async def test_losing_a_race_for_the_same_key_answers_as_the_winner(
    database: Any, spans: InMemorySpanExporter
) -> None:
    store = RacedStore(database, source="/crm/test")
    await store.create_indexes()
    deps = dependencies(database, spans, store)
    rival = await execute(
        deps, STORES, "store/ber", OpenStore("ber", "Mitte"), context("rival"), idempotency=KEY
    )
    store.missed = 0

    ours = await execute(
        deps,
        STORES,
        "store/ber",
        OpenStore("ber", "Mitte"),
        context("ours"),
        idempotency=KEY,
        loaded=Loaded("store/ber", None, 0),
    )

    assert (ours.view, ours.replayed) == (rival.view, True)
    assert len(await store.load("store/ber")) == 1


async def test_load_folds_the_history_up_to_a_version(deps: Dependencies) -> None:
    await execute(deps, STORES, "store/ber", OpenStore("ber", "Mitte"), context())

    assert await load(deps, STORES, "store/ber", up_to=0) == Loaded("store/ber", None, 0)
    assert await load(deps, STORES, "store/ber") == Loaded("store/ber", Store("ber", "Mitte"), 1)
    assert await load(deps, STORES, "store/new") == Loaded("store/new", None, 0)


def test_only_an_existing_aggregate_has_a_view() -> None:
    assert STORES.exists(Store("ber", "Mitte")) and not STORES.exists(None)
    with pytest.raises(TypeError, match="only an existing Store"):
        STORES.view(None, 0)


@pytest.mark.parametrize(("conflicts", "attempts"), [(0, [1]), (1, [1, 2]), (2, [1, 2, 3])])
async def test_a_conflict_is_retried_on_a_fresh_attempt(
    conflicts: int, attempts: list[int]
) -> None:
    made: list[int] = []

    async def attempt(number: int) -> str:
        made.append(number)
        if number <= conflicts:
            raise WrongExpectedVersion("s", 0, 1)
        return "settled"

    assert await retry_on_conflict(attempt) == "settled"
    assert made == attempts


async def test_the_last_conflict_is_raised_after_the_retries() -> None:
    made: list[int] = []

    async def attempt(number: int) -> str:
        made.append(number)
        raise WrongExpectedVersion("s", 0, 1)

    with pytest.raises(WrongExpectedVersion):
        await retry_on_conflict(attempt, retries=2)
    assert made == [1, 2]
