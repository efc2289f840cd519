"""Render nginx's configuration from the shipped templates, and run nginx as a child.

nginx runs without root: its prefix, pid file and temporary files live in a run
directory under the instance folder, it stays in the foreground (`daemon off`), and its
error log goes to a pipe that we read and mask (`mask_line`) before writing it out.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import threading
from importlib import resources
from pathlib import Path

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
# Connections one client address may hold at once (see nginx-site.conf).
CONNECTIONS_PER_CLIENT = 32

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# Candidates for IPv6; one is an address if it has `::` or all eight groups (a time of
# day such as 14:25:57 has neither).
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_REFERRAL = re.compile(r"/+r/[^\s\"'?#/]+")


def find_nginx() -> str | None:
    """The nginx binary: Debian's, or one on PATH; None when there is none."""
    for candidate in NGINX_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("nginx")


def _template(name: str) -> str:
    return resources.files("federation.front").joinpath(name).read_text()


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def site_config(*, listen: str, upstream: str, max_body: int, access_log: str) -> str:
    """The http-level configuration: log format, limits, upstream, server."""
    return _fill(_template("nginx-site.conf"), {
        "LISTEN": listen, "UPSTREAM": upstream, "MAX_BODY": str(max_body),
        "ACCESS_LOG": access_log, "CONN_PER_CLIENT": str(CONNECTIONS_PER_CLIENT)})


def listen_directive(bind: str) -> str:
    """gunicorn's bind syntax (`HOST:PORT`, `[::1]:PORT`, `unix:PATH`) in nginx's."""
    if bind.startswith("unix:"):
        return bind
    if bind.startswith("0.0.0.0:"):
        return bind.split(":", 1)[1]  # nginx's "all IPv4 addresses"
    return bind


def write_config(run_dir: Path, *, listen: str, upstream: str, max_body: int) -> Path:
    """Write nginx.conf (and the site file it includes) into `run_dir`; return its path."""
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Running as root, nginx's workers would become `nobody` and could not reach the
    # private socket; as the same user they have no more rights than gunicorn next to them.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    site = site_config(listen=listen, upstream=upstream, max_body=max_body, access_log="/dev/stdout")
    (run_dir / "federation-site.conf").write_text(site)
    main = _fill(_template("nginx-main.conf"), {"RUN_DIR": str(run_dir), "USER": user})
    path = run_dir / "nginx.conf"
    path.write_text(main)
    return path


def mask_line(line: str) -> str:
    """A log line without client addresses or referral codes."""
    line = _REFERRAL.sub("/r/[redacted]", line)
    line = _IPV4.sub("[address]", line)
    return _IPV6_CANDIDATE.sub(_mask_ipv6, line)


def _mask_ipv6(match: re.Match) -> str:
    text = match.group(0)
    return "[address]" if "::" in text or text.count(":") == 7 else text


class NginxProcess:
    """nginx in the foreground as our child; its output copied, masked, to ours."""

    def __init__(self, binary: str, config: Path) -> None:
        self.binary, self.config = binary, config
        self.process: subprocess.Popen | None = None

    def check(self) -> None:
        """Raise RuntimeError with nginx's (masked) message if it refuses the config."""
        result = subprocess.run(self._command("-t"), capture_output=True, text=True)  # noqa: S603 (our binary)
        if result.returncode != 0:
            raise RuntimeError("nginx refused its configuration:\n" + mask_line(result.stderr))

    def start(self) -> subprocess.Popen:
        self.process = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL,  # noqa: S603 (ours)
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for stream, fd in ((self.process.stdout, 1), (self.process.stderr, 2)):
            threading.Thread(target=_copy_masked, args=(stream, fd), daemon=True).start()
        return self.process

    def stop(self, timeout: float = 20) -> None:
        """Ask nginx to finish what it is serving (SIGQUIT), then make sure it has ended."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(3)  # SIGQUIT: graceful shutdown
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _command(self, *extra: str) -> list[str]:
        # -e: nginx opens its compiled-in error log (/var/log/nginx, root's) before
        # reading the config unless told otherwise.
        return [self.binary, "-p", str(self.config.parent), "-c", str(self.config), "-e", "stderr", *extra]


def _copy_masked(stream, fd: int) -> None:
    # os.write: whole lines, unbuffered, interleaved safely with other writers.
    for raw in stream:
        os.write(fd, mask_line(raw.decode("utf-8", "replace")).encode())
