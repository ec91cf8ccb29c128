"""Virtual sub-account numbers (虚拟子账号): built from the project and bidder numbers,
with ISO 7064 MOD 97-10 check digits, and read back."""

from __future__ import annotations

from ..errors import LedgerReason

__all__ = [
    "is_valid_sub_account",
    "mod97_check_digits",
    "parse_sub_account",
    "sub_account_number",
]


def mod97_check_digits(payload: str) -> str:
    """ISO 7064 MOD 97-10 check digits (as in IBAN) for a string of decimal digits: two
    digits ``cc`` such that ``int(payload + cc) % 97 == 1``. Detects every single-digit
    error and every transposition of two adjacent digits."""
    if not payload.isdigit() or not payload.isascii():
        raise ValueError("payload must be decimal digits")
    return f"{98 - int(payload + '00') % 97:02d}"


def sub_account_number(
    project_no: int,
    bidder_no: int,
    *,
    prefix: str = "",
    project_width: int = 6,
    bidder_width: int = 6,
) -> str:
    """The virtual sub-account (虚拟子账号) of (bidder, project): ``prefix`` (the centre's
    digits at the bank) + project number + bidder number, zero-padded to fixed widths, +
    two MOD 97-10 check digits. Deterministic, and injective for a fixed prefix and widths:
    two different (project, bidder) pairs never share a number."""
    for name, value, width in (
        ("project_no", project_no, project_width),
        ("bidder_no", bidder_no, bidder_width),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LedgerReason.INVALID_INPUT.reject(f"{name}={value!r}", field=name)
        if value >= 10**width:
            raise LedgerReason.INVALID_INPUT.reject(
                f"{name}={value} needs more than {width} digits", field=name
            )
    if prefix and not (prefix.isdigit() and prefix.isascii()):
        raise LedgerReason.INVALID_INPUT.reject("prefix must be digits", field="prefix")
    payload = f"{prefix}{project_no:0{project_width}d}{bidder_no:0{bidder_width}d}"
    return payload + mod97_check_digits(payload)


def is_valid_sub_account(number: object) -> bool:
    """True when ``number`` is all digits and its MOD 97-10 check holds."""
    return (
        isinstance(number, str)
        and 3 <= len(number) <= 34
        and number.isascii()
        and number.isdigit()
        and int(number) % 97 == 1
    )


def parse_sub_account(
    number: str, *, prefix: str = "", project_width: int = 6, bidder_width: int = 6
) -> tuple[int, int] | None:
    """(project_no, bidder_no) of a well-formed number, or None (wrong length, prefix or
    check digits)."""
    if not is_valid_sub_account(number):
        return None
    if len(number) != len(prefix) + project_width + bidder_width + 2:
        return None
    if not number.startswith(prefix):
        return None
    body = number[len(prefix) : -2]
    return int(body[:project_width]), int(body[project_width:])
