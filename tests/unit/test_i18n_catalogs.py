"""The pages' gettext catalogs: no string lacks a translation, and every string the pages use
is in both catalogs (issue 13: "a test that no string lacks a translation"). If this fails
after adding text, run `make i18n` and translate the new entries (docs/pages.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from web.i18n import LANGS, LOCALES, catalog_path

ROOT = Path(__file__).resolve().parents[2]


def catalog_ids(lang: str) -> dict[str, str]:
    with catalog_path(lang).open("rb") as f:
        catalog = read_po(f, locale=LOCALES[lang])
    return {str(m.id): str(m.string) for m in catalog if m.id}


def used_msgids() -> set[str]:
    """Every string the pages mark: _()/N_()/{% trans %} in templates and web/pages/*.py,
    extracted as `make i18n` does (babel.cfg)."""
    method_map = [("web/pages/**.py", "python"), ("web/templates/**.html", "jinja2")]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    ids: set[str] = set()
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        for m in message if isinstance(message, tuple) else (message,):
            if m:
                ids.add(m)
    return ids


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_has_a_translation(lang: str) -> None:
    empty = sorted(k for k, v in catalog_ids(lang).items() if not v.strip())
    assert not empty, f"{LOCALES[lang]}: untranslated: {empty[:20]}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_string_the_pages_use_is_in_the_catalog(lang: str) -> None:
    missing = sorted(used_msgids() - set(catalog_ids(lang)))
    assert not missing, f"{LOCALES[lang]}: not in the catalog (run `make i18n`): {missing[:20]}"


def test_the_catalogs_hold_the_same_messages() -> None:
    assert set(catalog_ids("zh")) == set(catalog_ids("en"))


def test_the_chinese_catalog_is_chinese() -> None:
    """A zh_CN message copied from English by mistake: the msgstr should hold a CJK character
    (names, codes and symbols excepted: a msgstr equal to its msgid without letters)."""
    copied = [k for k, v in catalog_ids("zh").items()
              if v == k and any(c.isascii() and c.isalpha() for c in k) and len(k) > 3]
    assert not copied, f"zh_CN msgstr left in English: {copied[:20]}"


def test_the_health_line_is_translated() -> None:
    """Today's gap in the issue: the home page's health line has text in both languages."""
    assert catalog_ids("zh")["System health"] == "系统状态"
