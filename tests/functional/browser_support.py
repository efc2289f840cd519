"""Headless Chromium for browser tests and benchmarks: launching it, serving pages to it, and
watching what it requests.

Chromium is Debian's package, driven by Playwright; Playwright must never download a browser
of its own (TESTING.md). Pages are served from 127.0.0.1 on a random port by a server in a
background thread, so a test can prove that nothing the page does goes anywhere else.
"""
from __future__ import annotations

import mimetypes
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
PORTAL_STATIC = REPO_ROOT / "federation" / "portal" / "static"

CHROMIUM_PATH = Path(os.environ.get("FEDERATION_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium calls home on start and floods a closed
# network with refused connections; QUIC likewise.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]

# Module scripts are refused unless served with a JavaScript type, and mimetypes' answer
# depends on the machine's /etc/mime.types, so the types that matter are fixed here.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def chromium_missing_reason() -> str | None:
    """Why Chromium cannot be used here, or None when it can."""
    if not CHROMIUM_PATH.is_file():
        return f"Chromium not found at {CHROMIUM_PATH} (apt-get install chromium, or set FEDERATION_CHROMIUM)"
    return None


def launch_chromium(playwright):
    """Launch headless Chromium from CHROMIUM_PATH with the flags the closed network needs."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS)


@contextmanager
def serve_in_thread(server) -> Iterator[str]:
    """Run a socketserver-style server (``serve_forever``/``shutdown``) in a thread; yield its
    base URL. Works for `serve_static`'s server and for ``werkzeug.serving.make_server``."""
    thread = threading.Thread(target=server.serve_forever, name="test-http-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serve_static(directories: Mapping[str, Path], pages: Mapping[str, str] | None = None) -> Iterator[str]:
    """Serve files on 127.0.0.1 at a random port; yield the base URL.

    ``directories`` maps URL prefixes ("/static/") to folders; ``pages`` maps exact paths
    ("/harness.html") to HTML held in memory. Anything else is a 404.
    """
    handler = _static_handler(dict(directories), dict(pages or {}))
    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as base_url:
        yield base_url


def _static_handler(directories: dict[str, Path], pages: dict[str, str]):
    class StaticHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path in pages:
                self._send(pages[path].encode(), CONTENT_TYPES[".html"])
                return
            file = _resolve(directories, path)
            if file is None:
                self.send_error(404)
                return
            content_type = CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0]
            self._send(file.read_bytes(), content_type or "application/octet-stream")

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass  # keep test output clean; tests watch requests from the browser side

    return StaticHandler


def _resolve(directories: dict[str, Path], path: str) -> Path | None:
    for prefix, root in directories.items():
        if path.startswith(prefix):
            root = root.resolve()
            file = (root / path[len(prefix):]).resolve()
            # A path with ".." must not escape the folder being served.
            if file.is_relative_to(root) and file.is_file():
                return file
    return None


@dataclass
class RequestLog:
    """Every request a browser context makes: pages, scripts, workers' fetches, beacons."""

    requests: list = field(default_factory=list)

    @classmethod
    def attach(cls, context) -> RequestLog:
        log = cls()
        # Playwright tags the handler with an attribute, which a bound builtin cannot take.
        context.on("request", lambda request: log.requests.append(request))
        return log

    def off_host(self, host: str = "127.0.0.1") -> list[str]:
        """Requests whose host is not ``host`` (as "METHOD URL")."""
        return [f"{r.method} {r.url}" for r in self.requests if urlsplit(r.url).hostname != host]

    def with_body(self) -> list[str]:
        """Requests that carried a body (as "METHOD URL"): what a page sent, not fetched."""
        return [f"{r.method} {r.url}" for r in self.requests if r.post_data_buffer]


# A test-only page for the in-browser hashing engine: choose files in the input, then call
# hashChosen(kind) to hash them with the portal's client module, as the portal will.
HASHING_HARNESS = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>hashing harness</title>
<input type="file" id="files" multiple>
<script type="module">
import { hashFile, HashingError } from "/static/js/hashing/client.js";

// One outcome per chosen file, in order:
// {name, signals, error, message?, progress: [[done, total]...], milliseconds}.
window.hashChosen = (kind) => Promise.all(
  [...document.getElementById("files").files].map(async (file) => {
    const progress = [];
    const onProgress = ({ done, total }) => progress.push([done, total]);
    const start = performance.now();
    try {
      const { signals } = await hashFile(file, { kind, onProgress });
      return { name: file.name, signals, error: null, progress, milliseconds: performance.now() - start };
    } catch (error) {
      if (!(error instanceof HashingError)) throw error;
      return { name: file.name, signals: error.signals, error: error.code, message: error.message,
               progress, milliseconds: performance.now() - start };
    }
  }),
);
</script>
</html>
"""


@contextmanager
def hashing_harness() -> Iterator[str]:
    """Serve the portal's static files and the hashing harness; yield the harness URL."""
    with serve_static({"/static/": PORTAL_STATIC}, {"/harness.html": HASHING_HARNESS}) as base_url:
        yield f"{base_url}/harness.html"


# How long hashing a few photos may take in the browser before a test gives up.
HASHING_TIMEOUT_MS = 120_000


def expect(target):
    """Playwright's expect, imported when a test uses it (this module is also imported where
    Playwright is not installed, to tell why Chromium tests skip)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class Portal:
    """A fresh browser context on the portal, recording every request and page error.

    The Quick exit site is routed to a local stand-in, so even that navigation never
    leaves the machine.
    """

    def __init__(self, browser, base_url: str, **context_options):
        self.base_url = base_url
        self.context = browser.new_context(**context_options)
        self.requests = RequestLog.attach(self.context)
        self.context.route(re.compile(r"^https://www\.bbc\.co\.uk/"), lambda route: route.fulfill(
            status=200, content_type="text/html", body="<!doctype html><title>Weather</title><p>Weather"))
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        # CSP and Trusted Types violations are reported as console errors. A refused or
        # failed request is logged there too: the tests that cause one look at it themselves.
        self.page.on("console", lambda message: message.type == "error"
                     and not message.text.startswith("Failed to load resource")
                     and self.errors.append(f"console: {message.text}"))

    def close(self) -> None:
        self.context.close()

    def open(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)

    # The report flow, step by step.
    def start_report(self) -> None:
        self.open("/")
        self.page.click("#age-adult")
        expect(self.page.locator("#step-choose")).to_be_visible()

    def choose(self, photos=(), others=()) -> None:
        if photos:
            self.page.set_input_files("#photos", [str(p) for p in photos])
        if others:
            self.page.set_input_files("#others", [str(p) for p in others])

    def make_hashes(self) -> None:
        self.page.click("#hash-start")
        expect(self.page.locator("#step-review")).to_be_visible(timeout=HASHING_TIMEOUT_MS)

    def agree(self) -> None:
        self.page.click("#review-continue")
        expect(self.page.locator("#step-consent")).to_be_visible()
        for box in ("#consent-adult", "#consent-depicted", "#consent-share"):
            self.page.check(box)

    def receipts(self) -> list[tuple[str, str]]:
        expect(self.page.locator("#step-done")).to_be_visible()
        references = self.page.locator("#receipts .reference").all_inner_texts()
        pins = self.page.locator("#receipts .pin").all_inner_texts()
        return list(zip(references, pins, strict=True))

    def send(self) -> list[tuple[str, str]]:
        """Agree, send, and return the receipts (reference, PIN) shown."""
        self.agree()
        self.page.click("#send")
        return self.receipts()

    def report(self, photos=(), others=()) -> list[tuple[str, str]]:
        self.start_report()
        self.choose(photos, others)
        self.make_hashes()
        return self.send()

    def row(self, name: str):
        return self.page.locator("#file-list .file", has_text=name)

    def off_machine(self) -> list[str]:
        """Requests to anywhere but 127.0.0.1. A blob: URL names bytes already in this
        browser's memory (a thumbnail of a chosen file), so one of this page's is local."""
        return [request for request in self.requests.off_host()
                if urlsplit(request.split(" ", 1)[1].removeprefix("blob:")).hostname != "127.0.0.1"]

    def case_posts(self):
        return [r for r in self.requests.requests if r.method == "POST" and r.url.endswith("/v1/cases")]

    def credentials(self, path: str, reference: str, pin: str) -> None:
        self.open(path)
        self.page.fill("#reference", reference)
        self.page.fill("#pin", pin)
        self.page.click("#credentials-submit")
