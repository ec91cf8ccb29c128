"""Language choice for user-facing text (Simplified Chinese or English, by Accept-Language) and
the pages' gettext catalogs under ``web/locale/`` (see docs/pages.md for the workflow)."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations


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


LANGS: tuple[str, ...] = ("zh", "en")
"""The page languages: Simplified Chinese (the default) and English."""
LOCALES: dict[str, str] = {"zh": "zh_CN", "en": "en"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(lang: str) -> Translations:
    """The gettext catalog of a page language, compiled in memory from its committed ``.po``
    (no ``.mo`` to build or commit: a fresh checkout serves translated pages as it is)."""
    with catalog_path(lang).open("rb") as f:
        catalog = read_po(f, locale=LOCALES[lang], domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def fill_english(path: Path | None = None) -> int:
    """Give every untranslated message of the English catalog its msgid (the source text is
    English); returns how many were filled. ``make i18n`` runs it after ``pybabel update``."""
    path = path or catalog_path("en")
    with path.open("rb") as f:
        catalog = read_po(f, locale="en", domain=DOMAIN)
    filled = 0
    for message in catalog:
        if message.id and not message.string:
            message.string = message.id
            filled += 1
        if message.fuzzy and message.id:
            message.flags.discard("fuzzy")
            message.string = message.id
    with path.open("wb") as f:
        write_po(f, catalog, width=0, sort_output=True, omit_header=True)
    return filled


if __name__ == "__main__":
    print(f"en: {fill_english()} messages filled with their source text")
