"""Durations in settings, written the way operators write them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from crm_runtime.settings import Duration


class Holder(BaseModel):
    span: Duration


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("30", timedelta(seconds=30)),
        ("2.5", timedelta(seconds=2.5)),
        ("20s", timedelta(seconds=20)),
        (" 15m ", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("365d", timedelta(days=365)),
        ("PT48H", timedelta(hours=48)),
        ("P1D", timedelta(days=1)),
        (90, timedelta(seconds=90)),
    ],
)
def test_a_duration_reads_units_bare_seconds_and_iso_8601(
    written: object, meant: timedelta
) -> None:
    assert Holder.model_validate({"span": written}).span == meant


@pytest.mark.parametrize("written", ["soon", "5 weeks", "1y", "h12", ""])
def test_anything_else_is_refused(written: str) -> None:
    with pytest.raises(ValidationError):
        Holder.model_validate({"span": written})
