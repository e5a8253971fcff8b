"""Strength vote: a study setting, a round flag, and each rating's chosen strength

Revision ID: c587127c328c
Revises: ca76f5bc74b0
Create Date: 2026-11-24 06:50:55.654719
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c587127c328c"
down_revision: str | None = "ca76f5bc74b0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STRENGTH_CHOICE = (
    "strength IS NULL OR (NOT abstain AND strength IN "
    "('strong_for', 'conditional_for', 'conditional_against', 'strong_against'))"
)


def upgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("strength", sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(op.f("ck_ratings_strength_choice"), STRENGTH_CHOICE)

    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("asks_strength", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("strength_vote", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("strength_vote")

    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("asks_strength")

    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_ratings_strength_choice"), type_="check")
        batch_op.drop_column("strength")
