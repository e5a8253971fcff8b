"""Stability rule and feedback by group on studies; Kendall's W and attrition frozen per round

Revision ID: 8a7baed985e5
Revises: c587127c328c
Create Date: 2026-11-24 07:08:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a7baed985e5"
down_revision: str | None = "c587127c328c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statistics", sa.JSON(), nullable=True))

    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stability_rule", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("feedback_by_group", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("feedback_by_group")
        batch_op.drop_column("stability_rule")

    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("statistics")
