"""The person's web pages: server-rendered Jinja templates and small static ES modules.

Pages only render; every action (report, status, withdraw) is a same-origin JSON call
from the page's script to /v1/cases, so the reference and PIN travel in POST bodies only.
No cookies, no third-party assets, nothing stored in the browser.
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, render_template

from federation.portal.text import LANGUAGE, page_text, script_text

# Where Quick exit and the Esc key send the person: a neutral, busy site. It is a
# navigation (location.replace), never an asset this site loads.
DEFAULT_EXIT_URL = "https://www.bbc.co.uk/weather"

# The portal's own files: CSS, ES modules, the hashing worker.
bp = Blueprint("portal", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets")


def init_portal(app: Flask) -> None:
    """Register the portal's pages (/, /under-18, /report, /status, /withdraw, /assets/...),
    the referral landing page (/r/CODE) and the caseworker pages (/caseworker/...)."""
    from federation.portal import caseworker, referral

    app.config.setdefault("PORTAL_EXIT_URL", DEFAULT_EXIT_URL)
    app.register_blueprint(bp)
    app.register_blueprint(referral.bp)
    app.register_blueprint(caseworker.bp)


def fill(template: str, **values) -> str:
    """A text with its {placeholders} filled (templates' counterpart of text.js `t`)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def render_page(template: str, status: int = 200, **context) -> Response:
    """A portal page (security headers are added to every response by federation.web)."""
    html = render_template(template, t=page_text(), script_text=script_text(), lang=LANGUAGE,
                           exit_url=current_app.config["PORTAL_EXIT_URL"], fill=fill, **context)
    return Response(html, status=status, mimetype="text/html")


@bp.get("/")
def start() -> Response:
    return render_page("start.html", page="start")


@bp.get("/under-18")
def minors() -> Response:
    return render_page("minors.html", page="minors")


@bp.get("/report")
def report() -> Response:
    return render_page("report.html", page="report")


@bp.get("/status")
def status() -> Response:
    return render_page("status.html", page="status")


@bp.get("/withdraw")
def withdraw() -> Response:
    return render_page("withdraw.html", page="withdraw")


def render_error(status: int, code: str, title: str) -> Response:
    """The HTML error page for portal requests (API requests get problem+json).

    `title` is the API's English title; the page shows its own plain words instead.
    """
    text = page_text()
    heading = text["error_title_404"] if status == 404 else text["error_title_other"]
    return render_page("error.html", status=status, page="error", heading=heading, code=code)
