"""The lead decider: given these events, when this command, then these events or an error."""

from __future__ import annotations

from typing import ClassVar

import pytest

from crm_contracts.pipeline import LeadCaptured, LeadDisqualified, LeadQualified, LeadSource
from crm_contracts.registry import DomainEvent
from crm_pipeline.domain.errors import AlreadyExists, InvalidInput, NotFound, WrongState
from crm_pipeline.domain.lead import (
    CaptureLead,
    DisqualifyLead,
    Lead,
    LeadCommand,
    LeadStatus,
    NoLead,
    QualifyLead,
    decide,
    evolve,
    fold,
    opportunity_id_for,
)

LEAD = "lead_7f3a"
OPP = "opp_7f3a"
CAPTURED = LeadCaptured(
    lead_id=LEAD,
    source=LeadSource.WEB,
    name="Ada Lovelace",
    company="Acme AG",
    email="ada@example.com",
    phone="+4930901820",
    owner_id="u1",
    team="north",
)
CAPTURED_FOR_CUSTOMER = CAPTURED.model_copy(update={"customer_id": "cus_acme"})
QUALIFIED = LeadQualified(lead_id=LEAD, opportunity_id=OPP, customer_id="cus_acme")
DISQUALIFIED = LeadDisqualified(lead_id=LEAD, reason="no budget")
CAPTURE_ADA = CaptureLead(
    lead_id=LEAD,
    source=LeadSource.WEB,
    name="Ada Lovelace",
    owner_id="u1",
    team="north",
    company="Acme AG",
    email="ada@example.com",
    phone="+4930901820",
)


class LeadFlagged(DomainEvent):
    """An event of the lead's stream this decider does not fold (e.g. a newer type)."""

    event_type: ClassVar[str] = "crm.test.LeadFlagged"
    schema_version: ClassVar[int] = 1

    lead_id: str


def given_when(given: list[DomainEvent], when: LeadCommand) -> list[DomainEvent]:
    return decide(when, fold(given))


@pytest.mark.parametrize(
    ("given", "when", "then"),
    [
        pytest.param([], CAPTURE_ADA, [CAPTURED], id="capture on an empty stream"),
        pytest.param(
            [],
            CaptureLead(
                LEAD,
                LeadSource.WEB,
                "  Ada   Lovelace ",
                "u1",
                "north",
                company=" Acme  AG",
                email="ada@EXAMPLE.com",
                phone="+49 30 901820",
            ),
            [CAPTURED],
            id="capture normalises name, company, e-mail domain and phone",
        ),
        pytest.param(
            [],
            CaptureLead(LEAD, LeadSource.REFERRAL, "Grace Hopper", "u2"),
            [
                LeadCaptured(
                    lead_id=LEAD, source=LeadSource.REFERRAL, name="Grace Hopper", owner_id="u2"
                )
            ],
            id="capture with only what is required",
        ),
        pytest.param(
            [],
            CaptureLead(LEAD, LeadSource.PARTNER, "Ada", "u1", customer_id="cus_acme"),
            [
                LeadCaptured(
                    lead_id=LEAD,
                    source=LeadSource.PARTNER,
                    name="Ada",
                    owner_id="u1",
                    customer_id="cus_acme",
                )
            ],
            id="capture a lead from a known customer",
        ),
        pytest.param(
            [CAPTURED],
            QualifyLead(LEAD, OPP, customer_id="cus_acme"),
            [QUALIFIED],
            id="qualify naming the customer",
        ),
        pytest.param(
            [CAPTURED_FOR_CUSTOMER],
            QualifyLead(LEAD, OPP),
            [QUALIFIED],
            id="qualify a lead that names its customer",
        ),
        pytest.param(
            [CAPTURED_FOR_CUSTOMER],
            QualifyLead(LEAD, OPP, customer_id="cus_other"),
            [LeadQualified(lead_id=LEAD, opportunity_id=OPP, customer_id="cus_other")],
            id="qualify for another customer than the lead named",
        ),
        pytest.param(
            [CAPTURED],
            DisqualifyLead(LEAD, "  no   budget "),
            [DISQUALIFIED],
            id="disqualify with a reason",
        ),
    ],
)
def test_decides_events(
    given: list[DomainEvent], when: LeadCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(
    ("given", "when"),
    [
        pytest.param([CAPTURED, QUALIFIED], QualifyLead(LEAD, OPP), id="qualify again"),
        pytest.param(
            [CAPTURED, QUALIFIED],
            QualifyLead(LEAD, OPP, customer_id="cus_acme"),
            id="qualify again for the same customer",
        ),
        pytest.param(
            [CAPTURED, DISQUALIFIED],
            DisqualifyLead(LEAD, "another reason"),
            id="disqualify again",
        ),
    ],
)
def test_a_repeated_outcome_decides_no_events(given: list[DomainEvent], when: LeadCommand) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [
        pytest.param([CAPTURED], CAPTURE_ADA, AlreadyExists, "lead lead_7f3a already exists",
                     id="capture twice"),
        pytest.param(
            [], CaptureLead(LEAD, LeadSource.WEB, "   ", "u1"), InvalidInput,
            "name: must not be blank",
            id="capture without a name",
        ),
        pytest.param(
            [], CaptureLead(LEAD, LeadSource.WEB, "x" * 201, "u1"), InvalidInput,
            "name: must be at most 200", id="capture with a name too long",
        ),
        pytest.param(
            [], CaptureLead(LEAD, LeadSource.WEB, "Ada", "u1", email="ada@"), InvalidInput,
            "email:", id="capture with an invalid e-mail",
        ),
        pytest.param(
            [], CaptureLead(LEAD, LeadSource.WEB, "Ada", "u1", phone="030 901820"), InvalidInput,
            "phone: not a phone number in international format", id="capture with a local phone",
        ),
        pytest.param(
            [], CaptureLead(LEAD, LeadSource.WEB, "Ada", "u1", phone="+49 30 1"), InvalidInput,
            "phone: not a valid phone number", id="capture with an impossible phone",
        ),
        pytest.param(
            [], CaptureLead(LEAD, LeadSource.WEB, "Ada", " "), InvalidInput, "owner_id",
            id="capture without an owner",
        ),
        pytest.param([], QualifyLead(LEAD, OPP), NotFound, "no lead with id lead_7f3a",
                     id="qualify an unknown lead"),
        pytest.param([], DisqualifyLead(LEAD, "spam"), NotFound, "no lead with id lead_7f3a",
                     id="disqualify an unknown lead"),
        pytest.param(
            [CAPTURED], QualifyLead(LEAD, OPP), InvalidInput, "customer_id: the lead names no",
            id="qualify a lead that names no customer, naming none",
        ),
        pytest.param(
            [CAPTURED, DISQUALIFIED], QualifyLead(LEAD, OPP, "cus_acme"), WrongState,
            r"was disqualified \(no budget\)", id="qualify a disqualified lead",
        ),
        pytest.param(
            [CAPTURED, QUALIFIED], QualifyLead(LEAD, OPP, "cus_other"), WrongState,
            "already qualified into opp_7f3a", id="qualify again for another customer",
        ),
        pytest.param(
            [CAPTURED, QUALIFIED], QualifyLead(LEAD, "opp_other"), WrongState,
            "already qualified into opp_7f3a", id="qualify again into another opportunity",
        ),
        pytest.param(
            [CAPTURED, QUALIFIED], DisqualifyLead(LEAD, "spam"), WrongState,
            "lose that opportunity instead", id="disqualify a qualified lead",
        ),
        pytest.param(
            [CAPTURED], DisqualifyLead(LEAD, " "), InvalidInput, "reason: must not be blank",
            id="disqualify without a reason",
        ),
        pytest.param(
            [CAPTURED], DisqualifyLead(LEAD, "x" * 501), InvalidInput, "reason: must be at most",
            id="disqualify with a reason too long",
        ),
    ],
)  # fmt: skip
def test_refuses_what_the_rules_do_not_allow(
    given: list[DomainEvent], when: LeadCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


def test_wrong_states_have_a_title_for_the_answer() -> None:
    with pytest.raises(WrongState) as refused:
        given_when([CAPTURED, DISQUALIFIED], QualifyLead(LEAD, OPP, "cus_acme"))
    assert refused.value.title == "Lead was disqualified"


def test_history_folds_into_the_lead() -> None:
    assert fold([CAPTURED]) == Lead(
        lead_id=LEAD,
        source=LeadSource.WEB,
        name="Ada Lovelace",
        company="Acme AG",
        email="ada@example.com",
        phone="+4930901820",
        owner_id="u1",
        team="north",
        customer_id=None,
    )
    qualified = fold([CAPTURED, QUALIFIED])
    assert isinstance(qualified, Lead)
    assert (qualified.status, qualified.opportunity_id, qualified.customer_id) == (
        LeadStatus.QUALIFIED,
        OPP,
        "cus_acme",
    )
    dropped = fold([CAPTURED, DISQUALIFIED])
    assert isinstance(dropped, Lead)
    assert (dropped.status, dropped.disqualification_reason) == (
        LeadStatus.DISQUALIFIED,
        "no budget",
    )


def test_an_event_it_does_not_fold_changes_nothing() -> None:
    assert evolve(NoLead(), LeadFlagged(lead_id=LEAD)) == NoLead()
    assert fold([CAPTURED, LeadFlagged(lead_id=LEAD)]) == fold([CAPTURED])


def test_a_lead_becomes_one_opportunity_whose_id_is_derived_from_its_own() -> None:
    assert opportunity_id_for("lead_7f3a") == "opp_7f3a"
    assert opportunity_id_for("imported-42") == "opp_imported-42"
