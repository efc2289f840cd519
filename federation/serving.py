"""Run gunicorn in-process with our production settings (federation/gunicorn_conf.py)."""
from __future__ import annotations

from flask import Flask
from gunicorn.app.base import BaseApplication

from federation import gunicorn_conf


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


def run_gunicorn(app: Flask, *, bind: str, workers: int) -> None:
    _Gunicorn(app, {"bind": bind, "workers": workers}).run()
