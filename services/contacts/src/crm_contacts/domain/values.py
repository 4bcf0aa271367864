"""Value objects of customer master data, validated when they are made."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class InvalidContactDetail(ValueError):
    """A phone number or e-mail address that cannot be a real one."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def email_address(value: str) -> str:
    """The normalised form of an e-mail address (domain lower-cased), or InvalidContactDetail."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidContactDetail("email", str(error)) from error


def phone_number(value: str) -> str:
    """A phone number in E.164 form; international format (+country code) is required."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidContactDetail(
            "phone", "not a phone number in international format (+country code)"
        ) from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidContactDetail("phone", "not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidContactDetail("name", "must not be blank")
    if len(name) > 200:
        raise InvalidContactDetail("name", "must be at most 200 characters")
    return name
