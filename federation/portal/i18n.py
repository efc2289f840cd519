"""The portal in the person's language: which languages, how one is chosen, and the words.

The language is in the URL (`/es/report`), never in a cookie: a bare path (`/report`)
is shown in the best language the browser offers (Accept-Language), and its links stay
bare, so the browser's choice holds; a path with a language keeps it on every link. Every
page links to itself in every language. A language we do not have in the URL is shown in
the fallback language with a visible notice, never an error.

The words come from `text.py` (English, the msgids) through the gettext catalogs in
`translations/` with Flask-Babel; dates and numbers through Babel's CLDR data. Texts
with plural forms go to the scripts as one form per CLDR plural category of the language
(`one`, `few`, `other`...), which the script picks with `Intl.PluralRules`: the same
catalogs serve both sides.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from babel import Locale
from flask import Flask, g, request
from flask_babel import Babel, format_date, get_translations
from markupsafe import Markup, escape
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.routing import BaseConverter

from federation.portal.text import PAGES, SCRIPT, Message, Plural

TRANSLATIONS = Path(__file__).parent / "translations"


@dataclass(frozen=True)
class Language:
    code: str  # in the URL, lower case: "pt-br"
    tag: str  # BCP 47, for lang="" and hreflang: "pt-BR"
    locale: str  # Babel's and the catalog folder's name: "pt_BR"
    name: str  # in the language itself
    rtl: bool = False
    reviewed: bool = False  # by a native speaker (docs/portal/README.md, "Languages")


LANGUAGES: tuple[Language, ...] = (
    Language("en", "en", "en", "English", reviewed=True),
    Language("ar", "ar", "ar", "العربية", rtl=True),
    Language("bn", "bn", "bn", "বাংলা"),
    Language("es", "es", "es", "Español"),
    Language("fr", "fr", "fr", "Français"),
    Language("hi", "hi", "hi", "हिन्दी"),
    Language("hu", "hu", "hu", "Magyar"),
    Language("ko", "ko", "ko", "한국어"),
    Language("pt-br", "pt-BR", "pt_BR", "Português (Brasil)"),
    Language("sv", "sv", "sv", "Svenska"),
    Language("ur", "ur", "ur", "اردو", rtl=True),
)
BY_CODE = {language.code: language for language in LANGUAGES}
DEFAULT = BY_CODE["en"]

# Enough of an Accept-Language header for any real browser (a few dozen tags); the rest
# of a huge one is ignored rather than parsed.
ACCEPT_LANGUAGE_MAX_CHARS = 500
# A language tag's shape in the URL: "es", "pt-br", "zh-hant-tw". Only a segment of this
# shape is taken as a language, so /r/CODE, /v1/... and /assets/... never are.
LANGUAGE_SEGMENT = r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,2}"

# Bidirectional controls that could reorder the text around a name (U+202A-E: embeddings
# and overrides, U+2066-9: isolates). Names are isolated with <bdi> instead.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


class LanguageConverter(BaseConverter):
    regex = LANGUAGE_SEGMENT


babel = Babel()


def init_languages(app: Flask) -> None:
    app.url_map.converters["lang"] = LanguageConverter
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=lambda: current().locale, timezone_selector=lambda: "UTC")


def from_accept_language(header: str | None) -> Language:
    """The best of our languages for an Accept-Language header; English when none fits.

    Garbage parts are skipped and a huge header is cut, so no header can fail a page.
    """
    accepted = parse_accept_header((header or "")[:ACCEPT_LANGUAGE_MAX_CHARS], LanguageAccept)
    for value, _quality in accepted:  # best first
        language = match(value)
        if language is not None:
            return language
    return DEFAULT


def match(tag: str) -> Language | None:
    """Our language for a tag ("pt-BR", "es-419", "fr_CA"), by the whole tag, then by its
    language part ("pt" is Brazilian Portuguese: the only Portuguese we have)."""
    tag = tag.strip().lower().replace("_", "-")
    if tag in BY_CODE:
        return BY_CODE[tag]
    primary = tag.split("-", 1)[0]
    return next((language for language in LANGUAGES if language.code.split("-", 1)[0] == primary), None)


@dataclass(frozen=True)
class Choice:
    language: Language
    in_url: bool  # the URL named it (links keep it), or it was negotiated (links stay bare)
    unknown: str | None = None  # a language the URL asked for that we do not have


def choose(lang_code: str | None) -> Choice:
    """The language of this request from the URL's language segment, if any."""
    if lang_code is None:
        return Choice(from_accept_language(request.headers.get("Accept-Language")), in_url=False)
    language = BY_CODE.get(lang_code.lower().replace("_", "-"))
    if language is not None:
        return Choice(language, in_url=True)
    return Choice(from_accept_language(request.headers.get("Accept-Language")), in_url=False,
                  unknown=lang_code)


def current() -> Language:
    choice = g.get("language_choice")
    return choice.language if choice is not None else DEFAULT


def set_choice(lang_code: str | None) -> Choice:
    g.language_choice = choose(lang_code)
    return g.language_choice


def url_language() -> str | None:
    """The language code links should carry: the URL's, or None for bare links."""
    choice = g.get("language_choice")
    return choice.language.code if choice is not None and choice.in_url else None


# --- the words ------------------------------------------------------------------------

def translate(message: Message, count: int | None = None) -> str:
    translations = get_translations()
    if isinstance(message, Plural):
        return translations.ngettext(message.singular, message.plural, 1 if count is None else count)
    return translations.gettext(message)


class PageText:
    """The templates' `t`: `t.key` is the key's text in the request's language (for a
    text with plural forms, its plural: use `tr("key", count=n)` for those)."""

    def __getattr__(self, key: str) -> str:
        try:
            return translate(PAGES[key], count=None if not isinstance(PAGES[key], Plural) else 2)
        except KeyError:
            raise AttributeError(key) from None

    __getitem__ = __getattr__


def clean_name(value: object) -> str:
    """A display name (of a platform, an organisation, a service) safe to show inside
    other text: no bidirectional controls, no other control characters."""
    text = _BIDI_CONTROLS.sub("", str(value))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cc")


def fill_text(template: str, values: dict[str, object]) -> str:
    """A text with its {placeholders} filled, as plain text (for <title> and attributes)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", shown(value))
    return template


def fill_markup(template: str, values: dict[str, object]) -> Markup:
    """A text with its {placeholders} filled, each value escaped and isolated in <bdi>
    so a right-to-left name cannot reorder the sentence around it."""
    html = str(escape(template))
    for name, value in values.items():
        html = html.replace("{" + name + "}", f"<bdi>{escape(shown(value))}</bdi>")
    return Markup(html)  # noqa: S704 - built from escaped parts only


def shown(value: object) -> str:
    """A placeholder's value as the person reads it: numbers and dates by locale."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return format_number(value)
    if isinstance(value, dt.datetime | dt.date):
        return format_date(value, format="long")
    return clean_name(value)


def format_number(value: int) -> str:
    from flask_babel import format_decimal

    return format_decimal(value)


def tr(key: str, **values) -> Markup:
    """A page text with placeholders, in the request's language (the plural form by
    `count` when it has them)."""
    return fill_markup(translate(PAGES[key], values.get("count")), values)


def tr_plain(key: str, **values) -> str:
    return fill_text(translate(PAGES[key], values.get("count")), values)


def script_text() -> dict[str, object]:
    """The scripts' texts in the request's language: a string per key, or for a text
    with plural forms, one string per CLDR plural category of the language."""
    return {key: _plural_forms(message) if isinstance(message, Plural) else translate(message)
            for key, message in SCRIPT.items()}


def _plural_forms(message: Plural) -> dict[str, str]:
    return {category: translate(message, count) for category, count in _category_samples().items()}


# A number of each CLDR category, searched from 1 up (so "one" is 1 where 0 is also "one").
_SAMPLES = (*range(1, 200), 1_000_000, 0)


def _category_samples() -> dict[str, int]:
    rule = Locale.parse(current().locale).plural_form
    samples: dict[str, int] = {}
    for n in _SAMPLES:
        samples.setdefault(rule(n), n)
    return samples


def date_text(value: dt.datetime | dt.date) -> str:
    """A date the way every page shows it, in the request's language: "May 3, 2026",
    "3 de mayo de 2026" (the scripts use the same CLDR long format through Intl)."""
    return format_date(value, format="long")


def country_name(code: str) -> str:
    """A country's name in the request's language ("SE" -> "Suecia"), or the code."""
    return Locale.parse(current().locale).territories.get(code, code)


def language_names(codes: tuple[str, ...]) -> str:
    """Languages a service speaks, each in its own name where we have it ("Español, English")."""
    locale = Locale.parse(current().locale)
    names = [BY_CODE[code].name if code in BY_CODE else locale.languages.get(code.replace("-", "_"), code)
             for code in codes]
    return ", ".join(names)
