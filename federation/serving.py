"""Run gunicorn in-process with our production settings (federation/gunicorn_conf.py),
alone or behind nginx (federation/front/nginx.py) started and supervised by us."""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from federation import gunicorn_conf
from federation.front import nginx


class _Gunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict) -> None:
        self._app, self._options = app, options
        super().__init__()

    def load_config(self) -> None:
        settings = {name: getattr(gunicorn_conf, name) for name in dir(gunicorn_conf)
                    if name in self.cfg.settings}
        settings.update(self._options)
        for name, value in settings.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return self._app


def run_gunicorn(app: Flask, *, bind: str, workers: int, **options) -> None:
    _Gunicorn(app, {"bind": bind, "workers": workers, **options}).run()


def run_behind_nginx(app: Flask, *, bind: str, workers: int, nginx_binary: str) -> None:
    """nginx on `bind`, gunicorn behind it on a private unix socket, both our children.

    gunicorn starts first and nginx once gunicorn accepts (so nginx never answers 502 at
    start-up). SIGTERM or SIGINT stops nginx gracefully, then gunicorn; if either child
    ends on its own, the other is stopped and we exit 1.
    """
    run_dir = Path(app.instance_path) / "nginx"
    # The socket lives in a private temporary directory: a unix socket path is limited to
    # 108 bytes, which an instance folder deep in a file system can exceed.
    socket_dir = Path(tempfile.mkdtemp(prefix="federation-"))
    socket_path = socket_dir / "gunicorn.sock"
    config = nginx.write_config(run_dir, listen=nginx.listen_directive(bind),
                                upstream=f"unix:{socket_path}",
                                max_body=int(app.config["MAX_CONTENT_LENGTH"]))
    front = nginx.NginxProcess(nginx_binary, config)
    front.check()
    # gunicorn as a child process, not in this one: this process runs threads (copying
    # nginx's output), which a fork must not cross. Each worker makes its own app.
    # Behind nginx the client's address is the one nginx appends to X-Forwarded-For.
    env = {**os.environ, "FEDERATION_BIND": f"unix:{socket_path}", "FEDERATION_WORKERS": str(workers),
           "FEDERATION_PROXY_HOPS": str(int(app.config["PROXY_HOPS"]) + 1),
           "FEDERATION_INSTANCE_PATH": app.instance_path}
    wake = _wake_on_signals()
    stopping: list[int] = []
    gunicorn = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:federation.gunicorn_conf",
                                 "federation.wsgi:app"], env=env, stdin=subprocess.DEVNULL)
    try:
        if _wait_for_socket(socket_path, gunicorn, wake, stopping):
            nginx_process = front.start()
            while not stopping and gunicorn.poll() is None and nginx_process.poll() is None:
                _wait(wake, stopping)
    finally:
        front.stop()  # first: it finishes what it holds, and closes its connections to gunicorn
        _stop(gunicorn)
        shutil.rmtree(socket_dir, ignore_errors=True)
    if not stopping:
        click.echo(f"stopped: gunicorn exited ({gunicorn.returncode}), nginx "
                   f"({front.process.returncode if front.process else 'not started'})", err=True)
        sys.exit(1)


def _wake_on_signals() -> int:
    """A pipe's read end that becomes readable when SIGTERM, SIGINT or SIGCHLD arrives."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(number, lambda *_: None)  # the wakeup byte is what we act on
    return read


def _wait(wake: int, stopping: list[int], timeout: float = 1.0) -> None:
    """Until a signal arrives (or `timeout`, a safety net): record SIGTERM/SIGINT."""
    ready, _, _ = select.select([wake], [], [], timeout)
    if ready:
        for number in os.read(wake, 64):
            if number in (signal.SIGTERM, signal.SIGINT):
                stopping.append(number)


def _wait_for_socket(path: Path, gunicorn: subprocess.Popen, wake: int, stopping: list[int],
                     deadline_seconds: float = 60) -> bool:
    """True once gunicorn accepts on `path`; False if it exits or we are told to stop."""
    deadline = time.monotonic() + deadline_seconds
    while not stopping and gunicorn.poll() is None and time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
                return True
            except OSError:
                pass
        _wait(wake, stopping, timeout=0.1)
    return False


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()  # gunicorn: graceful stop
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
