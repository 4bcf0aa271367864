"""Value rules of the pipeline: exact money, quantities, percentages, names, contact details.

Money is a ``Decimal`` with at most two decimal places (currency minor units);
binary floats are refused wherever they turn up, since 0.1 + 0.2 is not 0.3.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from crm_pipeline.domain.errors import InvalidInput

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999999.99")
MAX_QUANTITY = Decimal("999999999.999")
HUNDRED = Decimal(100)
CURRENCY = re.compile(r"[A-Z]{3}")


def _exact(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidInput(
            field, f'must be an exact decimal such as "12.50", not {type(value).__name__}'
        )
    exact = Decimal(value)
    if not exact.is_finite():
        raise InvalidInput(field, "must be a finite number")
    return exact


def _places(value: Decimal, places: int) -> bool:
    """True when ``value`` has at most ``places`` decimal places (trailing zeros aside)."""
    return value == value.quantize(Decimal(1).scaleb(-places))


def money(value: object, field: str = "amount", *, allow_zero: bool = False) -> Decimal:
    """An amount of money in cents precision: more than 0 (or not negative), at most 2 places."""
    amount = _exact(value, field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidInput(
            field, "must be more than 0" if not allow_zero else "must not be negative"
        )
    if amount > MAX_AMOUNT:
        raise InvalidInput(field, f"must be at most {MAX_AMOUNT}")
    if not _places(amount, 2):
        raise InvalidInput(field, "must have at most 2 decimal places (cents)")
    return amount.quantize(CENT)


def quantity(value: object, field: str = "quantity") -> Decimal:
    """A line quantity: more than 0, at most 3 decimal places."""
    amount = _exact(value, field)
    if amount <= 0:
        raise InvalidInput(field, "must be more than 0")
    if amount > MAX_QUANTITY:
        raise InvalidInput(field, f"must be at most {MAX_QUANTITY}")
    if not _places(amount, 3):
        raise InvalidInput(field, "must have at most 3 decimal places")
    return amount


def percent(value: object, field: str = "discount_percent") -> Decimal:
    """A percentage from 0 to 100, at most 2 decimal places."""
    amount = _exact(value, field)
    if not 0 <= amount <= HUNDRED:
        raise InvalidInput(field, "must be from 0 to 100")
    if not _places(amount, 2):
        raise InvalidInput(field, "must have at most 2 decimal places")
    return amount


def net_amount(quantity: Decimal, unit_price: Decimal, discount_percent: Decimal) -> Decimal:
    """quantity x unit price x (1 - discount/100), exactly, rounded half-even to cents."""
    with localcontext() as exact:
        exact.prec = 60  # wide enough that nothing is rounded before the final cent
        gross = quantity * unit_price * (HUNDRED - discount_percent) / HUNDRED
        return gross.quantize(CENT, rounding=ROUND_HALF_EVEN)


def currency(value: str, field: str = "currency") -> str:
    if not CURRENCY.fullmatch(value):
        raise InvalidInput(field, "must be an ISO 4217 code of three capital letters, e.g. EUR")
    return value


def text(value: str, field: str, *, max_length: int = 200) -> str:
    """A single-line text: inner whitespace collapsed, not blank, not too long."""
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput(field, "must not be blank")
    if len(cleaned) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    return cleaned


def email_address(value: str) -> str:
    """The normalised form of an e-mail address (domain lower-cased)."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidInput("email", str(error)) from error


def phone_number(value: str) -> str:
    """A phone number in E.164 form; the international format (+country code) is required."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidInput(
            "phone", "not a phone number in international format (+country code)"
        ) from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("phone", "not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
