"""HTTP client for the federation's partner API: feed pages, keys, the log and feedback.

Standard library only (http.client with a kept-alive connection), so the kit installs
anywhere. Every malformed answer raises a FeedError subclass naming what was wrong.
"""
from __future__ import annotations

import base64
import binascii
import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class FeedError(Exception):
    """The federation's answer cannot be used; sync stops without applying it."""


class TruncatedResponse(FeedError):
    """The body ended early or is not complete JSON."""


class HTTPError(FeedError):
    def __init__(self, status: int, body: bytes) -> None:
        try:
            problem = json.loads(body)
            detail = f"{problem.get('code')}: {problem.get('detail') or problem.get('title')}"
        except (ValueError, AttributeError):
            detail = body[:200].decode(errors="replace")
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


@dataclass(frozen=True)
class FeedPage:
    entries: list[dict[str, Any]]
    next: int
    has_more: bool
    head: int | None  # from the Feed-Head header, for progress only
    log_size: int | None = None  # from Log-Size: the tree size whose checkpoint covers the page
    retry_after: float | None = None  # a long poll the server could not hold: ask again after this


def _proof(body: Any, path: str) -> list[bytes]:
    proof = body.get("proof") if isinstance(body, dict) else None
    if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
        raise TruncatedResponse(f"{path}: no proof list")
    try:
        return [base64.b64decode(h, validate=True) for h in proof]
    except binascii.Error:
        raise TruncatedResponse(f"{path}: a proof hash is not base64") from None


class FederationClient:
    """One partner's connection to a federation server."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 60) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path
        self._token, self._timeout = token, timeout
        self._connection: http.client.HTTPConnection | None = None

    def another(self) -> FederationClient:
        """A client of the same federation, with the same token, on its own connection
        (a connection serves one request at a time: a second thread needs its own)."""
        other = FederationClient.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._connection = None
        return other

    def keys(self) -> dict[str, Any]:
        """The published JWKS document."""
        return self._json("GET", "/.well-known/federation-keys", auth=False)[0]

    def page(self, after: int, limit: int, *, wait: int = 0) -> FeedPage:
        """Entries after `after`; with `wait` (seconds, at most 60), the server holds the
        request until one is committed or the time is up (then the page is empty)."""
        query = f"/v1/feed?after={after}&limit={limit}" + (f"&wait={wait}" if wait else "")
        body, headers = self._json("GET", query)
        if not isinstance(body, dict) or not isinstance(body.get("entries"), list) \
                or not isinstance(body.get("next"), int) or not isinstance(body.get("has_more"), bool):
            raise TruncatedResponse("feed page lacks entries, next or has_more")
        head, log_size = headers.get("Feed-Head"), headers.get("Log-Size")
        retry = headers.get("Retry-After")
        return FeedPage(body["entries"], body["next"], body["has_more"],
                        int(head) if head and head.isdigit() else None,
                        int(log_size) if log_size and log_size.isdigit() else None,
                        float(retry) if retry and retry.isdigit() else None)

    def checkpoint(self) -> str:
        """The log's latest checkpoint, a signed note (verify it before use: partners.sync)."""
        status, raw, _ = self._request("GET", self._prefix + "/v1/log/checkpoint", None, {})
        if status != 200:
            raise HTTPError(status, raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TruncatedResponse("/v1/log/checkpoint: not UTF-8 text") from None

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The RFC 9162 consistency proof from tree size `first` to `second` (not yet verified)."""
        body = self._json("GET", f"/v1/log/consistency?first={first}&second={second}")[0]
        return _proof(body, "/v1/log/consistency")

    def inclusion(self, seq: int, size: int) -> list[bytes]:
        """The RFC 9162 audit path of entry `seq` in the tree of `size` (not yet verified)."""
        body = self._json("GET", f"/v1/log/inclusion?seq={seq}&size={size}")[0]
        return _proof(body, "/v1/log/inclusion")

    def post(self, path: str, payload: Any, *, idempotency_key: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self._json("POST", path, body=json.dumps(payload).encode(), headers=headers)[0]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _json(self, method: str, path: str, *, body: bytes | None = None,
              headers: dict[str, str] | None = None, auth: bool = True) -> tuple[Any, Any]:
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        status, raw, response_headers = self._request(method, self._prefix + path, body, headers)
        if status != 200:
            raise HTTPError(status, raw)
        try:
            return json.loads(raw), response_headers
        except ValueError:
            raise TruncatedResponse(f"{path.split('?')[0]}: body is not complete JSON") from None

    def _request(self, method, path, body, headers):
        # One retry on a connection the server closed while idle (keep-alive timeout).
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read(), response.headers
            except http.client.IncompleteRead:
                self.close()
                raise TruncatedResponse(f"{path.split('?')[0]}: the body ended early") from None
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt == 2:
                    raise

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._scheme == "https":
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=ssl.create_default_context())
            else:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._connection
