"""Checks of the plain values commands carry (ids, text, times, points)."""

from __future__ import annotations

import re
from datetime import datetime

from crm_loyalty.domain.errors import InvalidInput

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
MAX_POINTS = 10_000_000


def identifier(value: str, field: str) -> str:
    """Ids: 1-128 of letters, digits, ``_ . : -``, starting with a letter or digit."""
    if not ID.fullmatch(value):
        raise InvalidInput(field, "must be 1-128 letters, digits or _ . : - (no spaces)")
    return value


def text(value: str, field: str, *, max_length: int = 200) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(field, "must not be blank")
    if len(cleaned) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    if any(ord(ch) < 32 for ch in cleaned):
        raise InvalidInput(field, "must not contain control characters")
    return cleaned


def aware(moment: datetime, field: str) -> datetime:
    if moment.utcoffset() is None:
        raise InvalidInput(field, "must be a time with a time zone")
    return moment


def points(value: int, field: str = "points") -> int:
    if isinstance(value, bool) or not 1 <= value <= MAX_POINTS:
        raise InvalidInput(field, f"must be a whole number from 1 to {MAX_POINTS}")
    return value
