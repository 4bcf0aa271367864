"""Projection rebuild rate: seed a contacts history, time ``rebuild_customer360`` over it.

The history is seeded in bulk into an embedded SQLite store (commits exactly as
the contacts service appends them, personal fields sealed), then the customer
360 is rebuilt into a fresh projections database the way ``crm projections
rebuild`` does it. If the rebuild outlasts its time limit, the rate of the
part done is reported and the row says so.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tinymongo

from bench.commits import CONTACTS_DATABASE, seed_commits, verify_shape
from bench.histories import history_of_events
from bench.raw_rebuild import raw_rebuild
from bench.sealing import KEYS_COLLECTION, KEYS_DATABASE
from crm_contracts.contacts import SOURCE
from crm_projections.application.rebuild import rebuild_customer360
from crm_projections.bootstrap import bootstrap
from crm_projections.config import ProjectionsSettings
from crm_runtime.documents import open_document_client
from crm_runtime.eventstore import EventStore
from crm_runtime.personal_data import SealedEvents
from crm_runtime.settings import RuntimeSettings
from crm_runtime.shredding import MongoKeyVault, PersonalDataCipher


@dataclass(frozen=True)
class RebuildResult:
    events: int
    customers: int
    seed_seconds: float
    folded: int  # events folded before the end (or the time limit)
    seconds: float
    complete: bool
    raw_seconds: float

    @property
    def rate(self) -> float:
        return self.folded / self.seconds if self.seconds else 0.0

    @property
    def raw_rate(self) -> float:
        return self.events / self.raw_seconds if self.raw_seconds else 0.0


async def measure_rebuild(events: int, per_customer: int, limit: float) -> RebuildResult:
    scratch = tinymongo.AsyncMongoClient(backend="memory", tz_aware=True)
    try:
        await verify_shape(scratch)
    finally:
        await scratch.close()
    folder = Path(tempfile.mkdtemp(prefix="crm-bench-rebuild-"))
    settings = ProjectionsSettings(data_dir=folder, embedded_backend="sqlite")
    client = open_document_client(RuntimeSettings(data_dir=folder, embedded_backend="sqlite"))
    try:
        contacts = EventStore(client[CONTACTS_DATABASE], source=SOURCE)
        await contacts.create_indexes()
        history = history_of_events(events, per_customer, tag="rebuild")
        started = time.perf_counter()
        seeded = await seed_commits(client, history)
        seed_seconds = time.perf_counter() - started

        raw_seconds = await raw_rebuild(client[CONTACTS_DATABASE], client["raw_rebuild"])

        projector = bootstrap(settings, document_client=client).customer360
        vault = MongoKeyVault(client[KEYS_DATABASE][KEYS_COLLECTION])
        events_after = list(itertools.accumulate(len(c.events) for c in history))
        done = {"commits": 0}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                await rebuild_customer360(
                    projector,
                    [contacts],
                    sealed=SealedEvents(PersonalDataCipher(vault)),
                    on_progress=lambda commits, _: done.update(commits=commits),
                )
            complete = True
        except TimeoutError:
            complete = False
        seconds = time.perf_counter() - started
        folded = events_after[done["commits"] - 1] if done["commits"] else 0
        return RebuildResult(
            seeded,
            len({c.stream_id for c in history}),
            seed_seconds,
            folded,
            seconds,
            complete,
            raw_seconds,
        )
    finally:
        await client.close()
        shutil.rmtree(folder, ignore_errors=True)
