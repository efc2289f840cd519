"""The person's web pages: server-rendered Jinja templates and small static ES modules.

Pages only render; every action (report, status, withdraw) is a same-origin JSON call
from the page's script to /v1/cases, so the reference and PIN travel in POST bodies only.
No cookies, no third-party assets, nothing stored in the browser.

Every page exists at a bare path (`/report`, in the browser's language) and under each
language (`/es/report`); see federation/portal/i18n.py.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, g, render_template, request, url_for

from federation.portal import i18n

# Where Quick exit and the Esc key send the person: a neutral, busy site. It is a
# navigation (location.replace), never an asset this site loads.
DEFAULT_EXIT_URL = "https://www.bbc.co.uk/weather"

# The portal's own files: CSS, ES modules, the hashing worker.
bp = Blueprint("portal", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets")


def localized(blueprint: Blueprint, rule: str, **options) -> Callable:
    """Register a page at `rule` and at the same rule under a language (`/es/...`).

    The rule with the language comes first: URL building takes the first rule whose
    arguments it has, so `url_for(..., lang_code="es")` builds `/es/...`, and without
    a language the bare rule is built (never `?lang_code=`)."""
    def register(view: Callable) -> Callable:
        blueprint.add_url_rule("/<lang:lang_code>" + (rule if rule != "/" else "/"), view_func=view, **options)
        blueprint.add_url_rule(rule, view_func=view, **options)
        return view
    return register


def init_portal(app: Flask) -> None:
    """Register the portal's pages (/, /under-18, /report, /status, /withdraw, /next,
    /platforms, each also under /LANG/), the referral landing page (/r/CODE) and the
    caseworker pages (/caseworker/...), with their languages."""
    from federation.portal import caseworker, referral

    app.config.setdefault("PORTAL_EXIT_URL", DEFAULT_EXIT_URL)
    i18n.init_languages(app)
    app.url_value_preprocessor(_take_language)
    app.url_defaults(_keep_language)
    app.register_blueprint(bp)
    app.register_blueprint(referral.bp)
    app.register_blueprint(caseworker.bp)


def _take_language(endpoint: str | None, values: dict | None) -> None:
    if (request.blueprint or "").startswith("portal"):
        i18n.set_choice(values.pop("lang_code", None) if values else None)


# A referral link is for the person, whose own browser should choose the language, not
# the caseworker's page that made it.
_BARE_ENDPOINTS = frozenset({"portal_referral.landing"})


def _keep_language(endpoint: str, values: dict) -> None:
    # Links from a page whose URL names its language name it too; links from a bare page stay bare.
    language = i18n.url_language()
    if language and "lang_code" not in values and endpoint not in _BARE_ENDPOINTS \
            and current_app.url_map.is_endpoint_expecting(endpoint, "lang_code"):
        values["lang_code"] = language


def language_links() -> list[dict]:
    """This page in every language, for the switcher (a page answering a POST, or an
    error, links to the start page instead)."""
    endpoint = request.endpoint if request.url_rule is not None else None
    args = dict(request.view_args or {})
    if endpoint in _BARE_ENDPOINTS:
        # The referral code stays in one place on its page (the script's data), never in
        # eleven links: switching language there opens the report page in that language.
        endpoint, args = "portal.report", {}
    if endpoint is None or request.method != "GET" or g.get("page_error") \
            or not current_app.url_map.is_endpoint_expecting(endpoint, "lang_code"):
        endpoint = "portal_caseworker.home" if (request.blueprint or "") == "portal_caseworker" else "portal.start"
        args = {}
    here = i18n.current()
    return [{"language": language, "href": url_for(endpoint, **args, lang_code=language.code),
             "current": language == here} for language in i18n.LANGUAGES]


def render_page(template: str, status: int = 200, **context) -> Response:
    """A portal page in the request's language (security headers are added to every
    response by federation.web)."""
    choice = g.get("language_choice") or i18n.set_choice(None)
    language = choice.language
    html = render_template(template, t=i18n.PageText(), tr=i18n.tr, tr_plain=i18n.tr_plain,
                           script_text=i18n.script_text(), language=language, lang=language.tag,
                           direction="rtl" if language.rtl else "ltr", language_choice=choice,
                           languages=language_links(), exit_url=current_app.config["PORTAL_EXIT_URL"],
                           date=i18n.date_text, name=i18n.clean_name, country_name=i18n.country_name,
                           language_names=i18n.language_names, **context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Language"] = language.tag
    if not choice.in_url:
        response.vary.add("Accept-Language")
    return response


@localized(bp, "/")
def start() -> Response:
    return render_page("start.html", page="start", support=_support())


@localized(bp, "/under-18")
def minors() -> Response:
    return render_page("minors.html", page="minors")


@localized(bp, "/report")
def report() -> Response:
    return render_page("report.html", page="report", support=_support())


@localized(bp, "/status")
def status() -> Response:
    return render_page("status.html", page="status", support=_support())


@localized(bp, "/withdraw")
def withdraw() -> Response:
    return render_page("withdraw.html", page="withdraw")


@localized(bp, "/next")
def what_happens_next() -> Response:
    return render_page("next.html", page="next")


@localized(bp, "/platforms")
def platforms() -> Response:
    from federation import support_services
    from federation.db import db

    return render_page("platforms.html", page="platforms",
                       platforms=support_services.member_platforms(db.session))


def _support():
    """The support services for the request's language (the page filters by country)."""
    from federation import support_services
    from federation.db import db

    return support_services.for_language(db.session, i18n.current().code)


def render_error(status: int, code: str, title: str) -> Response:
    """The HTML error page for portal requests (API requests get problem+json).

    `title` is the API's English title; the page shows its own plain words instead.
    """
    g.page_error = True
    text = i18n.PageText()
    heading = text["error_title_404"] if status == 404 else text["error_title_other"]
    return render_page("error.html", status=status, page="error", heading=heading, code=code)
