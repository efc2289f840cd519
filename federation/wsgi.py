"""WSGI entry point for gunicorn: `federation.wsgi:app`."""
from federation.app import create_app

app = create_app()
