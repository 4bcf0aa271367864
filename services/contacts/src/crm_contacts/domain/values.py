"""Value objects of customer master data, validated when they are made."""

from __future__ import annotations

import difflib
import re
import unicodedata

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


# ISO 3166-1 alpha-2: the 249 officially assigned codes (no reserved or user-assigned ones).
_ISO_3166_ALPHA_2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE
    BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD
    CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF
    GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME
    MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI
    SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK
    TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_ISO_3166_ALPHA_2.split())

_TAG = re.compile(r"^[a-z0-9][a-z0-9_.:-]*$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]*:[a-z0-9][a-z0-9_ -]*$")
MAX_TAG_LENGTH = 50
MAX_KEY_LENGTH = 50
MAX_SEGMENT_LENGTH = 80


def country_code(value: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased ("gb" -> "GB")."""
    code = value.strip().upper()
    if code not in COUNTRY_CODES:
        raise InvalidContactDetail("country", f"{value!r} is not an ISO 3166-1 alpha-2 code")
    return code


def text(field: str, value: str, max_length: int) -> str:
    """Free text with its whitespace runs collapsed; not blank, at most ``max_length``."""
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidContactDetail(field, "must not be blank")
    if len(cleaned) > max_length:
        raise InvalidContactDetail(field, f"must be at most {max_length} characters")
    return cleaned


def tag(value: str) -> str:
    """A tag in its normal form: lower case, words joined by '-' ("Trade Fair" -> "trade-fair")."""
    normal = "-".join(value.strip().lower().split())
    if not normal or len(normal) > MAX_TAG_LENGTH or not _TAG.fullmatch(normal):
        raise InvalidContactDetail(
            "tags",
            f"{value!r} is not a tag: letters, digits, '-', '_', '.', ':' and at most "
            f"{MAX_TAG_LENGTH} characters",
        )
    return normal


def preference_key(value: str) -> str:
    """What a preference is about, lower case ("Room" -> "room")."""
    normal = "-".join(value.strip().lower().split())
    if not normal or len(normal) > MAX_KEY_LENGTH or not _KEY.fullmatch(normal):
        raise InvalidContactDetail(
            "key", f"a preference key is letters, digits, '-', '_', '.' (at most {MAX_KEY_LENGTH})"
        )
    return normal


def segment(value: str) -> str:
    """A segment label "dimension:value", lower case ("Need:Training" -> "need:training")."""
    normal = " ".join(value.strip().lower().split())
    if len(normal) > MAX_SEGMENT_LENGTH or not _SEGMENT.fullmatch(normal):
        raise InvalidContactDetail(
            "segments", f'{value!r} is not a segment label "dimension:value" (e.g. need:training)'
        )
    return normal


def name_tokens(value: str | None) -> tuple[str, ...]:
    """The words of a name, accent-free and lower case, sorted: the key names are compared by."""
    if not value:
        return ()
    folded = unicodedata.normalize("NFKD", value.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return tuple(sorted(word for word in re.split(r"[^\w]+", plain) if word))


def name_key(value: str | None) -> str:
    return " ".join(name_tokens(value))


def name_similarity(first: str | None, second: str | None) -> float:
    """How alike two names are, 0 to 1, word order and case ignored (difflib's ratio)."""
    a, b = name_key(first), name_key(second)
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def contact_problems(email: str | None, phone: str | None) -> list[dict[str, str]]:
    """What is wrong with stored contact details (legacy data written before validation)."""
    problems = []
    for field, value, check in (("email", email, email_address), ("phone", phone, phone_number)):
        if value is None:
            continue
        try:
            check(value)
        except InvalidContactDetail as error:
            problems.append({"field": field, "problem": error.reason})
    return problems
