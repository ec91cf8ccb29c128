"""Identifiers: the ids every record uses — short ASCII strings
(``[A-Za-z0-9][A-Za-z0-9._:-]{0,63}``) that sort by code point — checked one at a time or in
bulk, and resident identity card numbers (居民身份证号码) with their masked form."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "ID_PATTERN",
    "all_valid_ids",
    "is_valid_id",
    "is_valid_id_list",
    "is_valid_id_number",
    "mask_id_number",
]

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")


def is_valid_id(value: object) -> bool:
    """True for an id of the shape every record uses (see the module docstring)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


_ID_LIST = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9._:\-]{0,63})(?:\n[A-Za-z0-9][A-Za-z0-9._:\-]{0,63})*"
)


def all_valid_ids(values: Iterable[str]) -> bool:
    """True when every value is a valid id (one regular-expression pass over all of them)."""
    items = values if isinstance(values, list | tuple) else list(values)
    if not items:
        return True
    try:
        joined = "\n".join(items)
    except TypeError:
        return False
    return is_valid_id_list(joined)


def is_valid_id_list(joined: str) -> bool:
    """True when ``joined`` is one or more valid ids separated by single line feeds."""
    return _ID_LIST.fullmatch(joined) is not None


# --- identity card numbers -------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def is_valid_id_number(id_number: str) -> bool:
    """Resident identity card number (居民身份证号码, GB 11643-1999): 17 digits and an
    ISO 7064 MOD 11-2 check character (a digit or ``X``)."""
    if len(id_number) != 18 or not id_number[:17].isdigit() or not id_number[:17].isascii():
        return False
    total = sum(int(c) * w for c, w in zip(id_number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == id_number[17].upper()


def mask_id_number(id_number: str) -> str:
    """The form shown on screens and in records: the first 3 and the last 4 characters,
    the rest as ``*`` (``330***********123X``). Short values are masked entirely."""
    if len(id_number) <= 7:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]
