"""The gateway's state in a database: usage per key now, state shared between workers later.

SQLAlchemy 2 Core and Alembic; SQLite (WAL) in the work root by default, PostgreSQL through
psycopg 3 when DATABASE_URL or LINGMA_DATABASE_URL names one. Knows no Flask and imports
nothing of the web, pipeline, api or ops layers (an import contract): ops wires it into the app.

Importing the package is cheap: SQLAlchemy loads with `database` and the modules of tables
and queries, never with `settings`, `door`, `writer` or `buffer`. gunicorn's master reads
`store.settings` before it forks, and with LINGMA_STORE=off a worker never loads SQLAlchemy
(door.py opens the store).
"""
