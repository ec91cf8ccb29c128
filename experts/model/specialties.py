"""Specialty codes (专业分类代码): the national four-level classification, in compact or
dotted form; a code covers itself and its descendants."""

from __future__ import annotations

import re
from dataclasses import dataclass

from experts.errors import ExpertReason
from trading.errors import Rejected

__all__ = [
    "SpecialtyCode",
]

_CODE_COMPACT = re.compile(r"[A-Z](?:[0-9]{2}){0,3}")
_CODE_DOTTED = re.compile(r"[A-Z](?:\.[0-9]{2}){0,3}")


@dataclass(frozen=True, slots=True, order=True)
class SpecialtyCode:
    """A code of the national four-level classification, in compact form (``A080301``)."""

    code: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or _CODE_COMPACT.fullmatch(self.code) is None:
            raise Rejected(
                ExpertReason.INVALID_SPECIALTY_CODE,
                f"{self.code!r}: expected a letter and up to three two-digit levels, like A080301",
                f"{self.code!r}：应为一个字母加至多三级两位数字，如 A080301",
                details={"specialty": str(self.code)},
            )

    @classmethod
    def parse(cls, text: str) -> SpecialtyCode:
        """Read a code in compact (``A080301``) or dotted (``A.08.03.01``) form; a lowercase
        first letter and surrounding blanks are tolerated."""
        if not isinstance(text, str):
            raise Rejected(ExpertReason.INVALID_SPECIALTY_CODE, repr(text))
        t = text.strip()
        t = t[:1].upper() + t[1:]
        if _CODE_DOTTED.fullmatch(t) and "." in t:
            t = t.replace(".", "")
        return cls(t)

    @property
    def level(self) -> int:
        """1 (category) to 4 (the finest level)."""
        return 1 + (len(self.code) - 1) // 2

    @property
    def segments(self) -> tuple[str, ...]:
        c = self.code
        return (c[0], *(c[i : i + 2] for i in range(1, len(c), 2)))

    @property
    def dotted(self) -> str:
        return ".".join(self.segments)

    @property
    def parent(self) -> SpecialtyCode | None:
        return None if len(self.code) == 1 else SpecialtyCode(self.code[:-2])

    def covers(self, other: SpecialtyCode) -> bool:
        """True when ``other`` is this code or one of its descendants."""
        return other.code.startswith(self.code)

    def __str__(self) -> str:
        return self.code
