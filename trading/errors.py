"""The root of every domain error in Sunlit.

Tree::

    DomainError                      anything a user's request can cause; rendered as problem+json
    ├── Rejected(reason)             a rule refused the command (status 409/422 by reason)
    ├── NotFound                     404
    ├── Forbidden / Unauthenticated  403 / 401
    └── Conflict                     409 (version clash, idempotency key reused with other content)

Each package subclasses these with its own closed ``Enum`` of reasons. An error carries a
stable machine ``code``, a ``status_hint`` for the HTTP edge, and a message in English and
Simplified Chinese; ``web/errors.py`` picks the language from ``Accept-Language``.
Domain code never imports aiohttp and never raises HTTP errors.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class DomainError(Exception):
    """Base class: ``code`` is stable and documented; messages say what to fix."""

    code: str = "domain_error"
    status_hint: int = 400

    def __init__(
        self,
        message_en: str,
        message_zh: str | None = None,
        *,
        code: str | None = None,
        status_hint: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh or message_en
        if code is not None:
            self.code = code
        if status_hint is not None:
            self.status_hint = status_hint
        self.details: dict[str, Any] = details or {}

    def message(self, lang: str) -> str:
        return self.message_zh if lang.startswith("zh") else self.message_en


class ValidationFailed(DomainError):
    """Input is malformed; ``details['errors']`` lists every problem found, not the first."""

    code = "validation_failed"
    status_hint = 422


class NotFound(DomainError):
    code = "not_found"
    status_hint = 404


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status_hint = 401


class Forbidden(DomainError):
    code = "forbidden"
    status_hint = 403


class Conflict(DomainError):
    code = "conflict"
    status_hint = 409


class Reason(Enum):
    """Base for each package's closed set of rule refusals.

    Members are declared as ``NAME = (code, status, message_en, message_zh)``.
    """

    def __init__(self, code: str, status: int, message_en: str, message_zh: str) -> None:
        self.code = code
        self.status = status
        self.message_en = message_en
        self.message_zh = message_zh


class Rejected(DomainError):
    """A rule refused the command; nothing changed. ``reason`` is a member of a ``Reason``
    enum; ``detail_en``/``detail_zh`` add the specifics (amounts, times)."""

    def __init__(
        self,
        reason: Reason,
        detail_en: str = "",
        detail_zh: str = "",
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        en = reason.message_en + (f": {detail_en}" if detail_en else "")
        zh = reason.message_zh + (f"：{detail_zh or detail_en}" if (detail_zh or detail_en) else "")
        super().__init__(en, zh, code=reason.code, status_hint=reason.status, details=details)
        self.reason = reason
