"""Support services (helplines) the portal shows to people, and the member platforms it
names: listed by operators (`federation support ...`), read by the portal's pages.

A service is shown to a person by the page's language and, if the person chooses one,
their country; a service with no countries serves anyone. Operators type the names,
phone numbers and hours as the service gives them: the portal shows them as text,
escaped and isolated from the sentence around them, never as markup.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation.db import add_unique, rowcount, writes
from federation.errors import Conflict, InvalidInput, NotFound
from federation.models import MemberStatus, Partner, SupportService

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,63}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?")
_COUNTRY = re.compile(r"[A-Z]{2}")
_PHONE = re.compile(r"\+?[0-9][0-9 ().-]{1,38}")
_WEB = re.compile(r"https://[^\s<>\"']{3,292}")


@dataclass(frozen=True)
class ServiceView:
    name: str
    display_name: str
    languages: tuple[str, ...]
    countries: tuple[str, ...]  # empty: anyone, anywhere
    phone: str | None
    web: str | None
    hours: str | None


def _codes(values: str | list[str] | tuple[str, ...], pattern: re.Pattern, what: str, upper: bool) -> str:
    items = values.replace(",", " ").split() if isinstance(values, str) else list(values)
    codes = []
    for item in items:
        code = item.strip().upper() if upper else item.strip().lower().replace("_", "-")
        if not pattern.fullmatch(code):
            raise InvalidInput(f"{item!r} is not {what}", code="invalid_support_service")
        if code not in codes:
            codes.append(code)
    return " ".join(codes)


@writes
def add_service(session: Session, name: str, display_name: str, *, languages: str | list[str],
                countries: str | list[str] = "", phone: str | None = None, web: str | None = None,
                hours: str | None = None) -> ServiceView:
    """List a support service. Raises InvalidInput (a bad code, phone or address) or
    Conflict (the name is taken)."""
    if not _NAME.fullmatch(name):
        raise InvalidInput("a name is 2-64 of a-z, 0-9, '_', '.', '-'", code="invalid_name")
    display = display_name.strip()
    if not 1 <= len(display) <= 120:
        raise InvalidInput("a display name is 1-120 characters", code="invalid_name")
    language_codes = _codes(languages, _LANGUAGE, "a language code such as es or pt-br", upper=False)
    if not language_codes:
        raise InvalidInput("a service speaks at least one language", code="invalid_support_service")
    if phone is not None and not _PHONE.fullmatch(phone.strip()):
        raise InvalidInput("a phone number is digits, spaces, ().- and an optional leading +",
                           code="invalid_support_service")
    if web is not None and not _WEB.fullmatch(web.strip()):
        raise InvalidInput("a web address starts with https://", code="invalid_support_service")
    if hours is not None and len(hours.strip()) > 120:
        raise InvalidInput("opening hours are at most 120 characters", code="invalid_support_service")
    row = SupportService(name=name, display_name=display, languages=language_codes,
                         countries=_codes(countries, _COUNTRY, "a two-letter country code such as SE", upper=True),
                         phone=phone.strip() if phone else None, web=web.strip() if web else None,
                         hours=hours.strip() if hours else None)
    add_unique(session, row, Conflict(f"a support service named {name!r} exists", code="support_service_exists"))
    return _view(row)


@writes
def remove_service(session: Session, name: str) -> None:
    """Raises NotFound."""
    if not rowcount(session.execute(delete(SupportService).where(SupportService.name == name))):
        raise NotFound(f"no support service named {name!r}", code="support_service_not_found")


def list_services(session: Session) -> list[ServiceView]:
    return [_view(row) for row in session.scalars(select(SupportService).order_by(SupportService.name))]


def for_language(session: Session, language: str) -> list[ServiceView]:
    """The services that speak `language` (a portal language code), or its main language
    ("pt" for "pt-br"); the page lets the person narrow them by country."""
    primary = language.split("-", 1)[0]
    return [view for view in list_services(session)
            if language in view.languages or primary in view.languages]


def member_platforms(session: Session) -> list[str]:
    """The display names of the platforms that receive hashes now (active members)."""
    return list(session.scalars(select(Partner.display_name).where(Partner.status == MemberStatus.ACTIVE)
                                .order_by(Partner.display_name)))


def _view(row: SupportService) -> ServiceView:
    return ServiceView(row.name, row.display_name, tuple(row.languages.split()), tuple(row.countries.split()),
                       row.phone, row.web, row.hours)
