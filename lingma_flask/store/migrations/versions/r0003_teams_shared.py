"""Key counts (limits across workers and hosts), worker heartbeats, the Lingma login shared by hosts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the key_counts, workers and lingma_logins tables."""
    op.create_table(
        "key_counts",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("start", sa.DateTime(), nullable=False),
        sa.Column("worker", sa.String(32), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "period", "start", "worker", name="pk_key_counts"),
    )
    op.create_index("ix_key_counts_start", "key_counts", ["start"])
    op.create_table(
        "workers",
        sa.Column("worker", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("worker_index", sa.Integer()),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("worker", name="pk_workers"),
    )
    op.create_index("ix_workers_seen_at", "workers", ["seen_at"])
    op.create_table(
        "lingma_logins",
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("login", sa.LargeBinary()),
        sa.PrimaryKeyConstraint("host", name="pk_lingma_logins"),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("lingma_logins")
    op.drop_index("ix_workers_seen_at", table_name="workers")
    op.drop_table("workers")
    op.drop_index("ix_key_counts_start", table_name="key_counts")
    op.drop_table("key_counts")
