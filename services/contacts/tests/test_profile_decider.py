"""Profile rules of the customer decider: given these events, when this command, then these
events, no events (a no-op), or this refusal."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from decider_examples import (
    ADA,
    ADA_ERASED,
    ADA_HISTORY,
    ADA_MERGED,
    ADA_REGISTERED,
    BABBAGE,
    BIRTHDAY,
    EARLIER,
    EMAIL_CONSENT,
    ENGINES,
    ENGINES_REGISTERED,
    NOW,
    TODAY,
    given_when,
)

from crm_contacts.domain.customer import (
    AddContactPerson,
    AssignOwner,
    AssignSegments,
    ChangeContactPerson,
    ChangeCustomerDetails,
    ChangeTags,
    ClassifyCustomer,
    ContactPersonNotFound,
    CustomerCommand,
    CustomerNotFound,
    CustomerWasErased,
    CustomerWasMerged,
    InvalidCommand,
    LogInteraction,
    ReassignOwner,
    RecordConsent,
    RemoveAddress,
    RemoveContactPerson,
    RemovePreference,
    RuleViolated,
    SetAddress,
    SetPreference,
    SetValueTier,
)
from crm_contracts.contacts import (
    AddressType,
    Classification,
    ContactChannel,
    ContactPersonAdded,
    ContactPersonChanged,
    ContactPersonRemoved,
    CustomerAddressRemoved,
    CustomerAddressSet,
    CustomerBirthdayChanged,
    CustomerClassified,
    CustomerCompanyChanged,
    CustomerConsentGiven,
    CustomerConsentWithdrawn,
    CustomerDetailsChanged,
    CustomerOwnerAssigned,
    CustomerPreferenceRemoved,
    CustomerPreferenceSet,
    CustomerPreferredChannelChanged,
    CustomerSegmentsAssigned,
    CustomerTagged,
    CustomerUntagged,
    CustomerValueTierSet,
    InteractionKind,
    InteractionLogged,
    ValueTier,
)
from crm_contracts.registry import DomainEvent

EMAIL, SMS = ContactChannel.EMAIL, ContactChannel.SMS
BILLING = AddressType.BILLING
LONDON = SetAddress(ADA, BILLING, "12 Marylebone Road", "London", "GB", "NW1 5LR")
LONDON_SET = CustomerAddressSet(
    customer_id=ADA,
    address_type=BILLING,
    street="12 Marylebone Road",
    city="London",
    postal_code="NW1 5LR",
    country="GB",
)
SPICE = CustomerPreferenceSet(customer_id=ADA, key="spice", text="mild, no coriander")
PREFERS_EMAIL = CustomerPreferredChannelChanged(customer_id=ADA, channel=EMAIL)
VIP = CustomerTagged(customer_id=ADA, tags=("vip",))
WITHDRAWN = CustomerConsentWithdrawn(customer_id=ADA, channel=EMAIL, at=NOW, source="unsubscribe")
VISIT = LogInteraction(
    ADA, "int_1", InteractionKind.VISIT, EARLIER, "Demo of the engine", "user:u1", NOW, "Tuesdays"
)
FIFTY_TAGS = CustomerTagged(customer_id=ADA, tags=tuple(f"t{i:02}" for i in range(50)))
FIFTY_PREFERENCES = [
    CustomerPreferenceSet(customer_id=ADA, key=f"k{i}", text="x") for i in range(50)
]


def consent(given: bool, at=NOW, source="web-form", channel=EMAIL) -> RecordConsent:  # type: ignore[no-untyped-def]
    return RecordConsent(ADA, channel, given, at, source, NOW)


DECIDES = [
    # --- details beyond name, e-mail and phone
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, company="Analytical Engines Ltd"),
        [CustomerCompanyChanged(customer_id=ADA, company="Analytical Engines Ltd")],
        "a person's company",
    ),
    (
        [*ADA_HISTORY, CustomerCompanyChanged(customer_id=ADA, company="Engines")],
        ChangeCustomerDetails(ADA, clear=frozenset({"company"})),
        [CustomerCompanyChanged(customer_id=ADA, company=None)],
        "remove the company",
    ),
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, birthday=BIRTHDAY, today=TODAY),
        [CustomerBirthdayChanged(customer_id=ADA, birthday=BIRTHDAY)],
        "a birthday",
    ),
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, birthday=TODAY, today=TODAY),
        [CustomerBirthdayChanged(customer_id=ADA, birthday=TODAY)],
        "born today",
    ),
    (
        [*ADA_HISTORY, CustomerBirthdayChanged(customer_id=ADA, birthday=BIRTHDAY)],
        ChangeCustomerDetails(ADA, clear=frozenset({"birthday"})),
        [CustomerBirthdayChanged(customer_id=ADA, birthday=None)],
        "remove the birthday",
    ),
    (
        [*ADA_HISTORY, EMAIL_CONSENT],
        ChangeCustomerDetails(ADA, preferred_channel=EMAIL),
        [PREFERS_EMAIL],
        "prefer a channel with consent",
    ),
    (
        [*ADA_HISTORY, EMAIL_CONSENT, PREFERS_EMAIL],
        ChangeCustomerDetails(ADA, clear=frozenset({"preferred_channel"})),
        [CustomerPreferredChannelChanged(customer_id=ADA, channel=None)],
        "no preferred channel",
    ),
    (
        ADA_HISTORY,
        ChangeCustomerDetails(
            ADA, name="Ada King", company="Engines", birthday=BIRTHDAY, today=TODAY
        ),
        [
            CustomerDetailsChanged(customer_id=ADA, name="Ada King"),
            CustomerCompanyChanged(customer_id=ADA, company="Engines"),
            CustomerBirthdayChanged(customer_id=ADA, birthday=BIRTHDAY),
        ],
        "several details in one change, one event each",
    ),
    # --- contact persons
    (
        [ENGINES_REGISTERED],
        AddContactPerson(
            ENGINES, "cp_1", "Charles Babbage", "Inventor", "charles@example.com", "+442079460000"
        ),
        [BABBAGE],
        "add a contact person to a company",
    ),
    (
        [ENGINES_REGISTERED, BABBAGE],
        ChangeContactPerson(ENGINES, "cp_1", role="Chief engineer"),
        [ContactPersonChanged(customer_id=ENGINES, person_id="cp_1", role="Chief engineer")],
        "change a contact person's role",
    ),
    (
        [ENGINES_REGISTERED, BABBAGE],
        ChangeContactPerson(ENGINES, "cp_1", clear=frozenset({"phone", "email"})),
        [ContactPersonChanged(customer_id=ENGINES, person_id="cp_1", cleared=("email", "phone"))],
        "remove a contact person's e-mail and phone",
    ),
    (
        [ENGINES_REGISTERED, BABBAGE],
        RemoveContactPerson(ENGINES, "cp_1"),
        [ContactPersonRemoved(customer_id=ENGINES, person_id="cp_1")],
        "remove a contact person",
    ),
    # --- addresses
    (ADA_HISTORY, LONDON, [LONDON_SET], "set the billing address"),
    (
        [*ADA_HISTORY, LONDON_SET],
        SetAddress(ADA, BILLING, "1 Baker St", "London", "GB"),
        [
            CustomerAddressSet(
                customer_id=ADA,
                address_type=BILLING,
                street="1 Baker St",
                city="London",
                country="GB",
            )
        ],
        "a new address replaces the old",
    ),
    (
        [*ADA_HISTORY, LONDON_SET],
        RemoveAddress(ADA, BILLING),
        [CustomerAddressRemoved(customer_id=ADA, address_type=BILLING)],
        "remove an address",
    ),
    # --- consent
    (
        ADA_HISTORY,
        consent(True, at=EARLIER),
        [CustomerConsentGiven(customer_id=ADA, channel=EMAIL, at=EARLIER, source="web-form")],
        "consent given, dated when the customer gave it",
    ),
    (
        ADA_HISTORY,
        consent(False, source="unsubscribe"),
        [WITHDRAWN],
        "a refusal is recorded even without consent before",
    ),
    (
        [*ADA_HISTORY, EMAIL_CONSENT],
        consent(False, source="unsubscribe"),
        [WITHDRAWN],
        "consent withdrawn",
    ),
    (
        [*ADA_HISTORY, EMAIL_CONSENT, PREFERS_EMAIL],
        consent(False, source="unsubscribe"),
        [WITHDRAWN, CustomerPreferredChannelChanged(customer_id=ADA, channel=None)],
        "withdrawing the preferred channel's consent removes the preference",
    ),
    (
        [*ADA_HISTORY, EMAIL_CONSENT, PREFERS_EMAIL],
        RecordConsent(ADA, SMS, False, NOW, "store", NOW),
        [CustomerConsentWithdrawn(customer_id=ADA, channel=SMS, at=NOW, source="store")],
        "another channel's withdrawal keeps the preference",
    ),
    (
        [*ADA_HISTORY, WITHDRAWN],
        consent(True, at=NOW, source="store"),
        [CustomerConsentGiven(customer_id=ADA, channel=EMAIL, at=NOW, source="store")],
        "consent given again after a withdrawal, at the same time or later",
    ),
    # --- preferences and tags
    (ADA_HISTORY, SetPreference(ADA, "spice", "mild, no coriander"), [SPICE], "a preference"),
    (
        [*ADA_HISTORY, SPICE],
        SetPreference(ADA, "spice", "hot"),
        [CustomerPreferenceSet(customer_id=ADA, key="spice", text="hot")],
        "a preference changes",
    ),
    (
        [*ADA_HISTORY, SPICE],
        RemovePreference(ADA, "spice"),
        [CustomerPreferenceRemoved(customer_id=ADA, key="spice")],
        "remove a preference",
    ),
    (
        [*ADA_HISTORY, *FIFTY_PREFERENCES],
        SetPreference(ADA, "k0", "y"),
        [CustomerPreferenceSet(customer_id=ADA, key="k0", text="y")],
        "the 50th preference can still change",
    ),
    (
        ADA_HISTORY,
        ChangeTags(ADA, add=frozenset({"vip", "fair-2026"})),
        [CustomerTagged(customer_id=ADA, tags=("fair-2026", "vip"))],
        "tags added, sorted",
    ),
    (
        [*ADA_HISTORY, VIP],
        ChangeTags(ADA, add=frozenset({"vip", "new"}), remove=frozenset({"x"})),
        [CustomerTagged(customer_id=ADA, tags=("new",))],
        "only new tags are added",
    ),
    (
        [*ADA_HISTORY, FIFTY_TAGS],
        ChangeTags(ADA, add=frozenset({"new"}), remove=frozenset({"t00"})),
        [
            CustomerUntagged(customer_id=ADA, tags=("t00",)),
            CustomerTagged(customer_id=ADA, tags=("new",)),
        ],
        "at 50 tags one can replace another",
    ),
    # --- classification, owner, interactions
    (
        ADA_HISTORY,
        ClassifyCustomer(ADA, Classification.KEY),
        [CustomerClassified(customer_id=ADA, classification=Classification.KEY)],
        "classify",
    ),
    (
        ADA_HISTORY,
        AssignSegments(ADA, frozenset({"need:training", "frequency:monthly"})),
        [
            CustomerSegmentsAssigned(
                customer_id=ADA, segments=("frequency:monthly", "need:training")
            )
        ],
        "segments, sorted",
    ),
    (
        [*ADA_HISTORY, CustomerSegmentsAssigned(customer_id=ADA, segments=("need:training",))],
        AssignSegments(ADA, frozenset()),
        [CustomerSegmentsAssigned(customer_id=ADA, segments=())],
        "no segments any more",
    ),
    (
        ADA_HISTORY,
        SetValueTier(ADA, ValueTier.AFFLUENT_RARE),
        [CustomerValueTierSet(customer_id=ADA, value_tier=ValueTier.AFFLUENT_RARE)],
        "value tier",
    ),
    (
        ADA_HISTORY,
        AssignOwner(ADA, "u2"),
        [
            CustomerOwnerAssigned(
                customer_id=ADA, owner_id="u2", team="north", previous_owner_id="u1"
            )
        ],
        "a new owner keeps the team unless told",
    ),
    (
        ADA_HISTORY,
        AssignOwner(ADA, "u9", team="south"),
        [
            CustomerOwnerAssigned(
                customer_id=ADA, owner_id="u9", team="south", previous_owner_id="u1"
            )
        ],
        "a new owner in another team",
    ),
    (
        [ADA_REGISTERED],
        AssignOwner(ADA, "u2"),
        [CustomerOwnerAssigned(customer_id=ADA, owner_id="u2")],
        "a first owner",
    ),
    (
        ADA_HISTORY,
        ReassignOwner(ADA, "u2", from_owner_id="u1"),
        [
            CustomerOwnerAssigned(
                customer_id=ADA, owner_id="u2", team="north", previous_owner_id="u1"
            )
        ],
        "reassigned from the owner it names",
    ),
    (
        ADA_HISTORY,
        VISIT,
        [
            InteractionLogged(
                customer_id=ADA,
                interaction_id="int_1",
                kind=InteractionKind.VISIT,
                at=EARLIER,
                summary="Demo of the engine",
                notes="Tuesdays",
                logged_by="user:u1",
            )
        ],
        "log a visit",
    ),
]

NO_OPS = [
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, clear=frozenset({"company", "birthday"})),
        "remove details that are not there",
    ),
    (
        [*ADA_HISTORY, CustomerBirthdayChanged(customer_id=ADA, birthday=BIRTHDAY)],
        ChangeCustomerDetails(ADA, birthday=BIRTHDAY, today=TODAY),
        "the same birthday",
    ),
    (
        [*ADA_HISTORY, EMAIL_CONSENT, PREFERS_EMAIL],
        ChangeCustomerDetails(ADA, preferred_channel=EMAIL),
        "the same preferred channel",
    ),
    (
        [ENGINES_REGISTERED, BABBAGE],
        AddContactPerson(
            ENGINES, "cp_1", "Charles Babbage", "Inventor", "charles@example.com", "+442079460000"
        ),
        "the same contact person again",
    ),
    (
        [ENGINES_REGISTERED, BABBAGE],
        ChangeContactPerson(ENGINES, "cp_1", name="Charles Babbage"),
        "a contact person's details as they are",
    ),
    ([*ADA_HISTORY, LONDON_SET], LONDON, "the same address"),
    (ADA_HISTORY, RemoveAddress(ADA, BILLING), "remove an address that is not there"),
    (
        [*ADA_HISTORY, EMAIL_CONSENT],
        consent(True, source="store"),
        "consent given again: the first proof stands",
    ),
    ([*ADA_HISTORY, WITHDRAWN], consent(False), "withdrawn again"),
    ([*ADA_HISTORY, SPICE], SetPreference(ADA, "spice", "mild, no coriander"), "same preference"),
    (ADA_HISTORY, RemovePreference(ADA, "spice"), "remove a preference that is not there"),
    (
        [*ADA_HISTORY, VIP],
        ChangeTags(ADA, add=frozenset({"vip"}), remove=frozenset({"x"})),
        "tags as they are",
    ),
    (
        [*ADA_HISTORY, CustomerClassified(customer_id=ADA, classification=Classification.KEY)],
        ClassifyCustomer(ADA, Classification.KEY),
        "the same classification",
    ),
    (
        [*ADA_HISTORY, CustomerSegmentsAssigned(customer_id=ADA, segments=("need:training",))],
        AssignSegments(ADA, frozenset({"need:training"})),
        "the same segments",
    ),
    (
        [*ADA_HISTORY, CustomerValueTierSet(customer_id=ADA, value_tier=ValueTier.BEST)],
        SetValueTier(ADA, ValueTier.BEST),
        "the same value tier",
    ),
    (ADA_HISTORY, AssignOwner(ADA, "u1", team="north"), "the same owner"),
    (
        ADA_HISTORY,
        ReassignOwner(ADA, "u1", from_owner_id="u7"),
        "reassigned to whom it already belongs: a resumed handover",
    ),
]

REFUSALS = [
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, birthday=TODAY + timedelta(days=1), today=TODAY),
        InvalidCommand,
        "in the future",
        "a birthday tomorrow",
    ),
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, birthday=date(1850, 1, 1), today=date(2026, 1, 1)),
        InvalidCommand,
        "more than 150 years ago",
        "a birthday too long ago",
    ),
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, birthday=BIRTHDAY),
        InvalidCommand,
        "today's date",
        "a birthday without today's date",
    ),
    (
        ADA_HISTORY,
        ChangeCustomerDetails(ADA, preferred_channel=EMAIL),
        RuleViolated,
        "not consented to be contacted by email",
        "prefer a channel without consent",
    ),
    (
        [*ADA_HISTORY, WITHDRAWN],
        ChangeCustomerDetails(ADA, preferred_channel=EMAIL),
        RuleViolated,
        "not consented",
        "prefer a channel whose consent was withdrawn",
    ),
    (
        [ENGINES_REGISTERED],
        ChangeCustomerDetails(ENGINES, company="Other Ltd"),
        RuleViolated,
        "its name is the company",
        "a company's company",
    ),
    (
        ADA_HISTORY,
        AddContactPerson(ADA, "cp_1", "Charles"),
        RuleViolated,
        "belong to company customers",
        "a contact person of a person",
    ),
    (
        [ENGINES_REGISTERED, BABBAGE],
        AddContactPerson(ENGINES, "cp_1", "Someone Else"),
        RuleViolated,
        "exists with other details",
        "a contact person id twice",
    ),
    (
        [ENGINES_REGISTERED],
        ChangeContactPerson(ENGINES, "cp_9", role="x"),
        ContactPersonNotFound,
        "no contact person cp_9",
        "change an unknown contact person",
    ),
    (
        [ENGINES_REGISTERED],
        RemoveContactPerson(ENGINES, "cp_9"),
        ContactPersonNotFound,
        "no contact person cp_9",
        "remove an unknown contact person",
    ),
    (
        [ENGINES_REGISTERED, BABBAGE],
        ChangeContactPerson(ENGINES, "cp_1", clear=frozenset({"name"})),
        InvalidCommand,
        "cannot clear name",
        "remove a contact person's name",
    ),
    (
        ADA_HISTORY,
        consent(True, at=NOW + timedelta(minutes=5)),
        InvalidCommand,
        "in the future",
        "consent dated in the future",
    ),
    (ADA_HISTORY, consent(True, source="  "), InvalidCommand, "source", "consent from nowhere"),
    (
        [*ADA_HISTORY, WITHDRAWN],
        consent(True, at=EARLIER),
        RuleViolated,
        "only a later change can reverse it",
        "an older consent cannot undo a later withdrawal",
    ),
    (
        [*ADA_HISTORY, *FIFTY_PREFERENCES],
        SetPreference(ADA, "k50", "x"),
        RuleViolated,
        "at most 50 preferences",
        "a 51st preference",
    ),
    (
        [*ADA_HISTORY, FIFTY_TAGS],
        ChangeTags(ADA, add=frozenset({"new"})),
        RuleViolated,
        "at most 50 tags",
        "a 51st tag",
    ),
    (
        ADA_HISTORY,
        ChangeTags(ADA, add=frozenset({"vip"}), remove=frozenset({"vip"})),
        InvalidCommand,
        "both added and removed: vip",
        "add and remove the same tag",
    ),
    (
        ADA_HISTORY,
        AssignSegments(ADA, frozenset(f"need:n{i}" for i in range(21))),
        InvalidCommand,
        "at most 20 segments",
        "21 segments",
    ),
    (
        ADA_HISTORY,
        ReassignOwner(ADA, "u2", from_owner_id="u7"),
        RuleViolated,
        "owned by u1, no longer by u7",
        "reassigned from a rep who no longer owns it",
    ),
    (
        ADA_HISTORY,
        LogInteraction(
            ADA, "int_1", InteractionKind.CALL, NOW + timedelta(hours=1), "Call", "user:u1", NOW
        ),
        InvalidCommand,
        "in the future",
        "an interaction in the future",
    ),
    (
        ADA_HISTORY,
        LogInteraction(ADA, "int_1", InteractionKind.NOTE, NOW, " ", "user:u1", NOW),
        InvalidCommand,
        "needs a summary",
        "an interaction without a summary",
    ),
    ([], SetPreference(ADA, "spice", "mild"), CustomerNotFound, "no customer", "unknown customer"),
    (
        [*ADA_HISTORY, ADA_ERASED],
        SetPreference(ADA, "spice", "mild"),
        CustomerWasErased,
        "was erased",
        "an erased customer",
    ),
    (
        [*ADA_HISTORY, ADA_MERGED],
        SetPreference(ADA, "spice", "mild"),
        CustomerWasMerged,
        "merged into cus_countess",
        "a merged customer",
    ),
    (
        [*ADA_HISTORY, ADA_MERGED],
        AssignOwner(ADA, "u2"),
        CustomerWasMerged,
        "send commands to cus_countess",
        "a merged customer's owner",
    ),
]


@pytest.mark.parametrize(
    ("given", "when", "then"), [pytest.param(g, w, t, id=i) for g, w, t, i in DECIDES]
)
def test_decides_events(
    given: list[DomainEvent], when: CustomerCommand, then: list[DomainEvent]
) -> None:
    assert given_when(given, when) == then


@pytest.mark.parametrize(("given", "when"), [pytest.param(g, w, id=i) for g, w, i in NO_OPS])
def test_a_command_that_changes_nothing_decides_no_events(
    given: list[DomainEvent], when: CustomerCommand
) -> None:
    assert given_when(given, when) == []


@pytest.mark.parametrize(
    ("given", "when", "error", "message"),
    [pytest.param(g, w, e, m, id=i) for g, w, e, m, i in REFUSALS],
)
def test_refuses_what_the_rules_forbid(
    given: list[DomainEvent], when: CustomerCommand, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        given_when(given, when)


def test_folding_what_was_decided_gives_the_state_asked_for() -> None:
    """Decide, fold, and the state shows every profile detail (decide and evolve agree)."""
    from crm_contacts.domain.customer import Registered, fold

    history: list[DomainEvent] = [*ADA_HISTORY, EMAIL_CONSENT]
    for command in [
        ChangeCustomerDetails(ADA, company="Engines", birthday=BIRTHDAY, today=TODAY),
        ChangeCustomerDetails(ADA, preferred_channel=EMAIL),
        LONDON,
        SetPreference(ADA, "spice", "mild"),
        ChangeTags(ADA, add=frozenset({"vip"})),
        ClassifyCustomer(ADA, Classification.TARGET),
        AssignSegments(ADA, frozenset({"need:training"})),
        SetValueTier(ADA, ValueTier.BEST),
        AssignOwner(ADA, "u2"),
        VISIT,
    ]:
        history += given_when(history, command)
    state = fold(history)
    assert isinstance(state, Registered)
    assert (state.company, state.birthday, state.preferred_channel) == ("Engines", BIRTHDAY, EMAIL)
    assert state.addresses[BILLING].street == "12 Marylebone Road"
    assert (state.preferences, state.tags) == ({"spice": "mild"}, frozenset({"vip"}))
    assert (state.classification, state.segments, state.value_tier) == (
        Classification.TARGET,
        frozenset({"need:training"}),
        ValueTier.BEST,
    )
    assert (state.owner_id, state.team, state.version) == ("u2", "north", len(history))
    assert state.consents[EMAIL].given and state.consents[EMAIL].at == EARLIER


def test_a_contact_persons_change_folds_into_the_person() -> None:
    from crm_contacts.domain.customer import ContactPerson, Registered, fold

    state = fold(
        [
            ENGINES_REGISTERED,
            BABBAGE,
            ContactPersonChanged(
                customer_id=ENGINES, person_id="cp_1", name="C. Babbage", cleared=("phone",)
            ),
            ContactPersonAdded(customer_id=ENGINES, person_id="cp_2", name="Ada"),
            ContactPersonRemoved(customer_id=ENGINES, person_id="cp_2"),
        ]
    )
    assert isinstance(state, Registered)
    assert dict(state.contact_persons) == {
        "cp_1": ContactPerson("cp_1", "C. Babbage", "Inventor", "charles@example.com", None)
    }
