"""What the API and the portal share about the HTTP request: who the client is, and the
security headers every response gets (applied in one place, `secure_headers`)."""
from __future__ import annotations

from flask import Flask, Response, request, url_for

# The person's pages and the caseworkers' pages: no inline script or style anywhere (the
# JSON text block is not executed, so it needs no exception); blob: is only for
# thumbnails drawn from the person's own files.
PORTAL_CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "media-src 'self' blob:",
    "worker-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types default",
])

PORTAL_HEADERS = {
    "Content-Security-Policy": PORTAL_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Every page may show a reference or PIN once the script has run; none is worth caching.
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# /docs is Swagger UI's page: its own script and styles (served by us), nothing framed.
DOCS_CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])

HSTS = "max-age=31536000; includeSubDomains"


def client_key() -> str:
    """The requesting client, for rate-limit counting: its network (an IPv4 address or an
    IPv6 /64) after FEDERATION_PROXY_HOPS has unwrapped trusted proxies. Counters HMAC it
    under a rotating key before storing (federation/ratelimit.py)."""
    from federation.ratelimit import client_network

    return client_network(request.remote_addr)


def referral_link(code: str) -> str:
    """The absolute portal link for a referral code (the one URL a code may appear in)."""
    return url_for("portal_referral.landing", code=code, _external=True)


_CREDENTIAL_HEADERS = ("Authorization", "x-functions-key", "Ocp-Apim-Subscription-Key")


def _has_credentials() -> bool:
    return any(name in request.headers for name in _CREDENTIAL_HEADERS) or bool(request.cookies)


def init_security_headers(app: Flask) -> None:
    app.after_request(secure_headers)


def secure_headers(response: Response) -> Response:
    """Every response's security headers, by what it is: a portal page, the API docs, or
    an API answer."""
    headers = response.headers
    blueprint = request.blueprint or ""
    if blueprint.startswith("portal"):
        for name, value in PORTAL_HEADERS.items():
            headers.setdefault(name, value)
    elif request.path == "/docs" or request.path.startswith("/docs/"):
        headers.setdefault("Content-Security-Policy", DOCS_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if _has_credentials():
        # An answer to a credential may hold hashes or secrets: no cache may keep it, and
        # a shared cache must never hand it to a request without that credential.
        headers["Cache-Control"] = "private, no-store"
        response.vary.add("Authorization")
    if request.is_secure:
        # Only when the request really arrived over HTTPS: directly, or through a proxy
        # trusted by FEDERATION_PROXY_HOPS, whose X-Forwarded-Proto ProxyFix has applied.
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
