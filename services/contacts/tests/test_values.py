"""Contact details are normalised when they are made, or refused with the field they concern."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
