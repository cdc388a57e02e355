"""Alembic's environment: run the migrations on the connection migrate.py hands over.

Online only, and only through `lingma_flask.store.migrate`, which holds the migration lock
and passes its connection in `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

from lingma_flask.store.tables import METADATA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations with `python -m lingma_flask db upgrade`")
context.configure(connection=connection, target_metadata=METADATA,
                  # SQLite alters a table by copying it: Alembic's batch mode does that
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
