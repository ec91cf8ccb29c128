"""Language choice for user-facing text: Simplified Chinese or English, by Accept-Language."""

from __future__ import annotations


def pick_language(accept_language: str | None, default: str = "en") -> str:
    """Return "zh" or "en": whichever the client prefers (highest q, then first listed)."""
    candidates: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().lower().partition(";")
        lang = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang is None:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q > 0:
            candidates.append((-q, i, lang))
    return min(candidates)[2] if candidates else default
