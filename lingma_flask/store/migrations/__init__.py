"""The store's Alembic environment and migrations, shipped inside the package (run by migrate.py).

A new migration is a new module in `versions/` whose `down_revision` is the current head;
`python -m lingma_flask db upgrade` (or any worker's start) applies it.
"""
