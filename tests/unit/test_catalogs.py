"""The portal's gettext catalogs: every text of text.py translated in every language, with
exactly the placeholders of its English, the right number of plural forms, compiled .mo
files that match the .po files, and plural rules the scripts can rely on.

A translation that drops or adds a placeholder is caught here, not when a page renders.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from babel.support import Translations

from federation.portal.i18n import LANGUAGES, TRANSLATIONS
from federation.portal.text import PAGES, SCRIPT, Plural

TRANSLATED = [language for language in LANGUAGES if language.locale != "en"]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def source_messages() -> dict[str, Plural | str]:
    """msgid -> the English text(s), from text.py."""
    return {(m.singular if isinstance(m, Plural) else m): m for m in (*PAGES.values(), *SCRIPT.values())}


def load(locale: str) -> Catalog:
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=locale)


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def problems(catalog: Catalog, sources: dict[str, Plural | str]) -> list[str]:
    """What is wrong with a catalog against the English texts: missing or empty or fuzzy
    translations, wrong placeholders, wrong number of plural forms. Written from the
    gettext and text.py rules alone, so a test can feed it a broken catalog."""
    found: list[str] = []
    seen = set()
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple | list) else message.id
        seen.add(msgid)
        source = sources.get(msgid)
        if source is None:
            found.append(f"obsolete: {msgid!r}")
            continue
        if message.fuzzy:
            found.append(f"fuzzy: {msgid!r}")
        if isinstance(source, Plural):
            forms = list(message.string) if isinstance(message.string, tuple | list) else [message.string]
            if len(forms) != catalog.num_plurals:
                found.append(f"{len(forms)} plural forms, {catalog.num_plurals} needed: {msgid!r}")
            wanted = placeholders(source.plural)
            if "count" not in wanted:
                found.append(f"a plural text without {{count}}: {msgid!r}")
        else:
            forms = [message.string]
            wanted = placeholders(source)
        for form in forms:
            if not form or not form.strip():
                found.append(f"untranslated: {msgid!r}")
            elif placeholders(form) != wanted:
                found.append(f"placeholders {placeholders(form)} instead of {wanted}: {msgid!r}")
    found += [f"missing: {msgid!r}" for msgid in sources if msgid not in seen]
    return found


def test_every_language_has_a_catalog_and_two_are_right_to_left():
    folders = {path.name for path in TRANSLATIONS.iterdir() if path.is_dir()}
    assert folders == {language.locale for language in TRANSLATED}
    assert len(LANGUAGES) >= 10
    assert {language.code for language in LANGUAGES if language.rtl} == {"ar", "ur"}
    for language in LANGUAGES:
        assert Locale.parse(language.locale).character_order == ("right-to-left" if language.rtl else "left-to-right")


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda language: language.code)
def test_every_text_is_translated_with_the_same_placeholders(language):
    catalog = load(language.locale)
    assert problems(catalog, source_messages()) == []


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda language: language.code)
def test_plural_forms_header_is_the_languages_own(language):
    # The scripts choose a form by CLDR category (Intl.PluralRules); the server maps each
    # category to a form through this formula, so it must be the standard one.
    catalog = load(language.locale)
    rule = get_plural(language.locale)
    assert catalog.num_plurals == rule.num_plurals
    assert catalog.plural_expr.replace(" ", "") == rule.plural_expr.replace(" ", "")


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda language: language.code)
def test_compiled_catalog_matches_its_source(language):
    # The .mo files are committed (a fresh clone needs no build step); they must be the
    # compilation of the .po files beside them.
    folder = TRANSLATIONS / language.locale / "LC_MESSAGES"
    with open(folder / "messages.mo", "rb") as handle:
        compiled = read_mo(handle)
    source = load(language.locale)
    def pairs(catalog):
        return {_key(m.id): _key(m.string) for m in catalog if m.id}
    assert pairs(compiled) == pairs(source)


def _key(value):
    return tuple(value) if isinstance(value, tuple | list) else value


@pytest.mark.parametrize("language", TRANSLATED, ids=lambda language: language.code)
def test_gettext_forms_agree_with_the_cldr_categories_the_scripts_use(language):
    # For every count a page shows, the form the server's gettext picks and the form the
    # scripts pick (its CLDR category's sample, see i18n._category_samples) are the same.
    with open(TRANSLATIONS / language.locale / "LC_MESSAGES" / "messages.mo", "rb") as handle:
        translations = Translations(handle)
    category = Locale.parse(language.locale).plural_form
    sample: dict[str, int] = {}
    for n in (*range(1, 200), 1_000_000):
        sample.setdefault(category(n), n)
    text = SCRIPT["outcome_blocked"]
    assert isinstance(text, Plural)
    for n in (*range(1, 200), 1_000_000):
        assert translations.ngettext(text.singular, text.plural, n) == \
            translations.ngettext(text.singular, text.plural, sample[category(n)]), n


def test_the_check_catches_a_missing_and_an_extra_placeholder():
    sources = {"Hello {name}.": "Hello {name}.", "{count} file": Plural("{count} file", "{count} files"),
               "Bye.": "Bye."}
    catalog = Catalog(locale="es")
    catalog.add("Hello {name}.", "Hola.")  # missing {name}
    catalog.add(("{count} file", "{count} files"), ("{count} archivo", "{count} archivos {extra}", "x {count}"))
    catalog.add("Bye.", "")
    found = problems(catalog, sources)
    assert "placeholders [] instead of ['name']: 'Hello {name}.'" in found
    assert "placeholders ['count', 'extra'] instead of ['count']: '{count} file'" in found
    assert "untranslated: 'Bye.'" in found
    # And a correct catalog passes.
    good = Catalog(locale="es")
    good.add("Hello {name}.", "Hola, {name}.")
    good.add(("{count} file", "{count} files"), ("{count} archivo", "{count} de archivos", "{count} archivos"))
    good.add("Bye.", "Adiós.")
    assert problems(good, sources) == []


def test_the_template_lists_every_text(tmp_path):
    # messages.pot is what translators start from: it holds every text of text.py.
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        template = read_po(handle)
    ids = {m.id[0] if isinstance(m.id, tuple | list) else m.id for m in template if m.id}
    assert ids == set(source_messages())


def test_mo_round_trip_is_what_flask_babel_reads():
    # A catalog compiled in memory reads back the same: the check above compares like with like.
    catalog = load("ar")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    assert Translations(buffer).gettext("Quick exit") == "خروج سريع"
    assert Path(TRANSLATIONS / "ar" / "LC_MESSAGES" / "messages.mo").stat().st_size > 1000


def test_installed_package_carries_the_compiled_catalogs():
    # An installed wheel has no build step either: pyproject's package data must name them.
    import tomllib

    root = TRANSLATIONS.parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["federation"]
    package = root / "federation"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    for language in TRANSLATED:
        assert TRANSLATIONS / language.locale / "LC_MESSAGES" / "messages.mo" in shipped, language.code
