"""The WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`."""
from lingma_flask import create_app

app = create_app()
