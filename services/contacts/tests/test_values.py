"""Contact details are normalised when they are made, or refused with the field they concern."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_contacts.domain import values
from crm_contacts.domain.values import (
    InvalidContactDetail,
    display_name,
    email_address,
    phone_number,
)


@pytest.mark.parametrize(
    ("given_address", "normalised"),
    [
        pytest.param("ada@example.com", "ada@example.com", id="already normal"),
        pytest.param("  ada@example.com\n", "ada@example.com", id="surrounding blanks removed"),
        pytest.param(
            "Ada@EXAMPLE.Com", "Ada@example.com", id="domain lower-cased, local part kept"
        ),
    ],
)
def test_an_email_address_is_normalised(given_address: str, normalised: str) -> None:
    assert email_address(given_address) == normalised


@pytest.mark.parametrize(
    "given_address",
    [
        pytest.param("ada", id="no @-sign"),
        pytest.param("ada@", id="nothing after the @-sign"),
        pytest.param("@example.com", id="nothing before the @-sign"),
        pytest.param("ada lovelace@example.com", id="a space in the local part"),
        pytest.param("ada@example", id="a domain without a dot"),
        pytest.param("", id="empty"),
    ],
)
def test_an_impossible_email_address_is_refused(given_address: str) -> None:
    with pytest.raises(InvalidContactDetail) as refused:
        email_address(given_address)
    assert refused.value.field == "email"
    assert refused.value.reason


@pytest.mark.parametrize(
    ("given_number", "e164"),
    [
        pytest.param("+49 30 901820", "+4930901820", id="spaces"),
        pytest.param("+4930901820", "+4930901820", id="already E.164"),
        pytest.param("+41 (0)44 668 18 00", "+41446681800", id="national trunk prefix"),
        pytest.param("+33-1-42-68-53-00", "+33142685300", id="dashes"),
    ],
)
def test_a_phone_number_is_written_in_e164(given_number: str, e164: str) -> None:
    assert phone_number(given_number) == e164


@pytest.mark.parametrize(
    ("given_number", "reason"),
    [
        pytest.param("030 901820", "international format", id="without a country code"),
        pytest.param("ada", "international format", id="not a number at all"),
        pytest.param("+49 1", "international format", id="too short to parse"),
        pytest.param("+1 555 0100", "not a valid phone number", id="invalid for its country"),
    ],
)
def test_a_phone_number_that_cannot_be_dialled_is_refused(given_number: str, reason: str) -> None:
    with pytest.raises(InvalidContactDetail, match=reason) as refused:
        phone_number(given_number)
    assert refused.value.field == "phone"


@pytest.mark.parametrize(
    ("given_name", "shown"),
    [
        pytest.param("Ada Lovelace", "Ada Lovelace", id="already tidy"),
        pytest.param("  Ada \t  Lovelace \n", "Ada Lovelace", id="blanks collapsed and trimmed"),
        pytest.param("x" * 200, "x" * 200, id="200 characters"),
        pytest.param(" " + "x" * 200 + "  ", "x" * 200, id="200 characters once trimmed"),
    ],
)
def test_a_display_name_is_tidied(given_name: str, shown: str) -> None:
    assert display_name(given_name) == shown


@pytest.mark.parametrize(
    ("given_name", "reason"),
    [
        pytest.param("", "blank", id="empty"),
        pytest.param(" \t\n ", "blank", id="only blanks"),
        pytest.param("x" * 201, "at most 200", id="201 characters"),
    ],
)
def test_a_blank_or_overlong_display_name_is_refused(given_name: str, reason: str) -> None:
    with pytest.raises(InvalidContactDetail, match=reason) as refused:
        display_name(given_name)
    assert refused.value.field == "name"


@given(st.text(max_size=250))
def test_a_tidied_display_name_stays_as_it_is(raw: str) -> None:
    try:
        shown = display_name(raw)
    except InvalidContactDetail:
        return
    assert display_name(shown) == shown
    assert shown == shown.strip()
    assert "  " not in shown


@given(st.from_regex(r"\+49 30 [1-9][0-9]{5,7}", fullmatch=True))
def test_a_berlin_number_in_e164_is_its_own_e164(number: str) -> None:
    written = phone_number(number)
    assert written == number.replace(" ", "")
    assert phone_number(written) == written


# --- addresses, tags, segments, preferences, names -------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [("GB", "GB"), ("gb", "GB"), (" de ", "DE"), ("AQ", "AQ")],
)
def test_a_country_is_an_iso_3166_alpha_2_code(given: str, expected: str) -> None:
    assert values.country_code(given) == expected


@pytest.mark.parametrize("given", ["UK", "XK", "EU", "DEU", "", "G"])
def test_a_code_that_is_not_an_assigned_country_is_refused(given: str) -> None:
    with pytest.raises(values.InvalidContactDetail, match="country"):
        values.country_code(given)


def test_there_are_249_assigned_country_codes() -> None:
    assert len(values.COUNTRY_CODES) == 249


@pytest.mark.parametrize(
    ("function", "given", "expected"),
    [
        (values.tag, "VIP", "vip"),
        (values.tag, " Trade  Fair 2026 ", "trade-fair-2026"),
        (values.tag, "region:north", "region:north"),
        (values.segment, "Need:Training", "need:training"),
        (values.segment, "service:high touch", "service:high touch"),
        (values.preference_key, "Room", "room"),
        (values.preference_key, "breakfast choice", "breakfast-choice"),
    ],
)
def test_labels_are_normalised(function: Any, given: str, expected: str) -> None:
    assert function(given) == expected


@pytest.mark.parametrize(
    ("function", "given"),
    [
        (values.tag, ""),
        (values.tag, "x" * 51),
        (values.tag, "v.i.p!"),
        (values.segment, "training"),
        (values.segment, ":training"),
        (values.preference_key, "spice?"),
        (values.preference_key, "-"),
    ],
)
def test_labels_that_are_not_are_refused(function: Any, given: str) -> None:
    with pytest.raises(values.InvalidContactDetail):
        function(given)


@pytest.mark.parametrize(
    ("first", "second", "at_least", "below"),
    [
        ("Ada Lovelace", "Lovelace, Ada", 1.0, 1.01),
        ("Ada Lovelace", "ADA LOVELACE", 1.0, 1.01),
        ("Zoë Müller", "Zoe Muller", 1.0, 1.01),
        ("Ada Lovelace", "Ada Lovelase", 0.85, 1.0),
        ("Ada Lovelace", "Grace Hopper", 0.0, 0.5),
        ("Ada", None, 0.0, 0.01),
    ],
)
def test_name_similarity_ignores_order_case_and_accents(
    first: str, second: str | None, at_least: float, below: float
) -> None:
    assert at_least <= values.name_similarity(first, second) < below


def test_stored_contact_details_are_checked_again_on_read() -> None:
    assert values.contact_problems("ada@example.com", "+4930901820") == []
    problems = values.contact_problems("ada.example.com", "030 901820")
    assert [p["field"] for p in problems] == ["email", "phone"]
