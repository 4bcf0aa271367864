"""Request and answer bodies of the contacts API (validated by pydantic, unknown fields 422)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from crm_contacts.domain import values
from crm_contracts.contacts import (
    Classification,
    ContactChannel,
    CustomerKind,
    InteractionKind,
    LifecycleStage,
    ValueTier,
)

Name = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(values.display_name)]
UserId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.@:-]+$")]
Email = Annotated[str, Field(max_length=320), AfterValidator(values.email_address)]
Phone = Annotated[str, Field(max_length=32), AfterValidator(values.phone_number)]
Company = Annotated[
    str, Field(max_length=1000), AfterValidator(lambda v: values.text("company", v, 200))
]
Role = Annotated[str, Field(max_length=1000), AfterValidator(lambda v: values.text("role", v, 200))]
Country = Annotated[str, Field(max_length=10), AfterValidator(values.country_code)]
Tag = Annotated[str, Field(max_length=200), AfterValidator(values.tag)]
Segment = Annotated[str, Field(max_length=200), AfterValidator(values.segment)]
Reference = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.:/-]+$")]


def _not_removable(value: object) -> object:
    if value is None:
        raise ValueError("cannot be removed")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterCustomerRequest(Strict):
    name: Name = Field(examples=["Ada Lovelace"])
    kind: CustomerKind = Field(examples=["person"])
    email: Email | None = Field(default=None, examples=["ada@example.com"])
    phone: Phone | None = Field(default=None, examples=["+4930901820"])
    owner_id: UserId | None = Field(
        default=None, description="Owning sales rep; defaults to the caller.", examples=["u1"]
    )
    team: UserId | None = Field(
        default=None, description="Owner's team; defaults to the caller's.", examples=["north"]
    )


class EraseCustomerRequest(Strict):
    request_reference: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[\w.:/-]+$",
        description="Reference of the data subject's request (no personal data).",
        examples=["dsr-2026-0042"],
    )


class ChangeCustomerRequest(Strict):
    """A JSON merge patch: a field set to null is removed (all but the name)."""

    name: Name | None = Field(default=None, examples=["Ada King"])
    email: Email | None = Field(default=None, examples=["ada@example.org"])
    phone: Phone | None = Field(default=None, examples=["+493090182099"])
    company: Company | None = Field(
        default=None, description="Company a person works for.", examples=["Analytical Engines"]
    )
    birthday: date | None = Field(
        default=None, description="Date of birth, not in the future.", examples=["1985-12-10"]
    )
    preferred_channel: ContactChannel | None = Field(
        default=None, description="A channel the customer consented to.", examples=["email"]
    )

    _name_required = field_validator("name", mode="before")(lambda cls, v: _not_removable(v))


class ContactPersonRequest(Strict):
    name: Name = Field(examples=["Charles Babbage"])
    role: Role | None = Field(default=None, examples=["Head of purchasing"])
    email: Email | None = Field(default=None, examples=["charles@example.com"])
    phone: Phone | None = Field(default=None, examples=["+442079460000"])


class ChangeContactPersonRequest(Strict):
    """A JSON merge patch of a contact person: null removes role, e-mail or phone."""

    name: Name | None = Field(default=None, examples=["Charles Babbage"])
    role: Role | None = Field(default=None, examples=["Chief executive"])
    email: Email | None = Field(default=None, examples=["babbage@example.com"])
    phone: Phone | None = Field(default=None, examples=["+442079460001"])

    _name_required = field_validator("name", mode="before")(lambda cls, v: _not_removable(v))


class AddressRequest(Strict):
    street: str = Field(min_length=1, max_length=300, examples=["12 Marylebone Road"])
    city: str = Field(min_length=1, max_length=200, examples=["London"])
    postal_code: str | None = Field(default=None, max_length=20, examples=["NW1 5LR"])
    country: Country = Field(description="ISO 3166-1 alpha-2 code.", examples=["GB"])

    @field_validator("street", "city", "postal_code")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else values.text("address", value, 300)


class ConsentRequest(Strict):
    given: bool = Field(description="True: consent given; false: withdrawn.", examples=[True])
    source: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\w .:/-]+$",
        description="Where it was collected (no personal data).",
        examples=["web-signup-form"],
    )
    at: datetime | None = Field(
        default=None,
        description="When the customer said so (UTC); defaults to now; never in the future.",
        examples=["2026-11-24T09:30:00Z"],
    )


class PreferenceRequest(Strict):
    text: str = Field(min_length=1, max_length=500, examples=["mild, no coriander"])


class TagsRequest(Strict):
    add: list[Tag] = Field(default=[], max_length=50, examples=[["vip"]])
    remove: list[Tag] = Field(default=[], max_length=50, examples=[["trade-fair-2025"]])


class LifecycleStageRequest(Strict):
    stage: LifecycleStage = Field(examples=["at_risk"])
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Needed for at_risk and churned.",
        examples=["no order for six months"],
    )


class PurchaseRequest(Strict):
    """A placed order or a won deal: at least one of ``order_id`` and ``opportunity_id``."""

    order_id: Reference | None = Field(
        default=None,
        description="The order; may be absent for a won deal not yet ordered.",
        examples=["ord_51c2"],
    )
    opportunity_id: Reference | None = Field(
        default=None,
        description="The deal (opportunity) the purchase belongs to: a purchase whose order "
        "or opportunity was recorded before counts once.",
        examples=["opp_7f3a"],
    )
    at: datetime = Field(
        description="When the order was placed or the deal won.",
        examples=["2026-11-24T09:30:00Z"],
    )

    @model_validator(mode="after")
    def _order_or_opportunity(self) -> PurchaseRequest:
        if self.order_id is None and self.opportunity_id is None:
            raise ValueError("order_id or opportunity_id is required")
        return self


class ClassificationRequest(Strict):
    classification: Classification = Field(examples=["key"])


class SegmentsRequest(Strict):
    segments: list[Segment] = Field(
        max_length=20, examples=[["need:training", "frequency:monthly"]]
    )


class ValueTierRequest(Strict):
    value_tier: ValueTier = Field(examples=["best"])


class OwnerRequest(Strict):
    owner_id: UserId = Field(examples=["u2"])
    team: UserId | None = Field(
        default=None,
        description="The new owner's team; defaults to the customer's.",
        examples=["north"],
    )


class HandoverRequestBody(Strict):
    leaving_rep_id: UserId = Field(examples=["u1"])
    successor_ids: list[UserId] = Field(min_length=1, max_length=50, examples=[["u2", "u3"]])
    reason: str = Field(min_length=1, max_length=500, examples=["rep left the company"])
    team: UserId | None = Field(
        default=None,
        description="The successors' team; defaults to each customer's.",
        examples=["north"],
    )
    handover_id: str | None = Field(
        default=None,
        pattern=r"^hov_[\w-]{1,100}$",
        description="Names the handover; sending it again resumes or replays it.",
        examples=["hov_2026-u1-leaves"],
    )


class InteractionRequest(Strict):
    kind: InteractionKind = Field(examples=["visit"])
    summary: str = Field(min_length=1, max_length=1000, examples=["Demo of the new machines"])
    notes: str | None = Field(default=None, max_length=10000, examples=["Call back on Tuesday"])
    at: datetime | None = Field(
        default=None,
        description="When it happened; defaults to now.",
        examples=["2026-11-24T09:30:00Z"],
    )


class MergeRequest(Strict):
    merged_id: str = Field(
        min_length=1,
        max_length=200,
        description="The duplicate that goes into this customer.",
        examples=["cus_0192f3a48a7b7c1d9e2f3a4b5c6d7e8f"],
    )


# --- answers ---------------------------------------------------------------------------------


class ContactPerson(BaseModel):
    id: str
    name: str
    role: str | None
    email: str | None
    phone: str | None


class Address(BaseModel):
    street: str
    city: str
    postal_code: str | None
    country: str


class Consent(BaseModel):
    given: bool
    at: str
    source: str


class DataQualityProblem(BaseModel):
    field: str
    problem: str


class Customer(BaseModel):
    """A customer as the caller may see it: contact details, street, postal code and birth year
    masked unless the role allows."""

    id: str
    kind: Literal["person", "company"]
    name: str
    email: str | None
    phone: str | None
    owner_id: str | None
    team: str | None
    version: int
    company: str | None = None
    birthday: str | None = Field(
        default=None, description='ISO date, or "--MM-DD" when the year is masked.'
    )
    preferred_channel: str | None = None
    contact_persons: list[ContactPerson] = []
    addresses: dict[str, Address] = {}
    consents: dict[str, Consent] = {}
    preferences: dict[str, str] = {}
    tags: list[str] = []
    lifecycle_stage: str = "prospect"
    purchases: int = 0
    purchased_opportunity_ids: list[str] = Field(
        default=[],
        description="The deals the purchases came from, where known (a purchase is counted "
        "once per deal).",
    )
    classification: str | None = None
    segments: list[str] = []
    value_tier: str | None = None
    merged_ids: list[str] = []
    data_quality: list[DataQualityProblem] = []


class ErasedCustomer(BaseModel):
    id: str
    erased: Literal[True]
    version: int


class CustomerSummary(BaseModel):
    id: str
    kind: str
    name: str
    email: str | None
    phone: str | None
    company: str | None
    owner_id: str | None
    team: str | None
    lifecycle_stage: str | None
    classification: str | None
    segments: list[str]
    value_tier: str | None
    tags: list[str]
    version: int


class CustomerPage(BaseModel):
    customers: list[CustomerSummary]
    next_cursor: str | None


class DuplicateCandidate(BaseModel):
    customer: CustomerSummary
    reasons: list[str]
    name_similarity: float


class Duplicates(BaseModel):
    customer_id: str
    candidates: list[DuplicateCandidate]


class Interaction(BaseModel):
    id: str
    customer_id: str
    kind: str
    at: str
    summary: str
    notes: str | None
    logged_by: str


class InteractionPage(BaseModel):
    interactions: list[Interaction]
    next_cursor: str | None


class Handover(BaseModel):
    id: str
    leaving_rep_id: str
    successor_ids: list[str]
    team: str | None
    reason: str
    moves: list[dict[str, str]]
    completed: bool
    moved: list[dict[str, str]]
    skipped: list[dict[str, str]]
    version: int
