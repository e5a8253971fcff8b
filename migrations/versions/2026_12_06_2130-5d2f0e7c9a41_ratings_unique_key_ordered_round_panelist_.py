"""Ratings' unique key ordered round, panelist, statement: a panelist's ballot is an index range

Reading one panelist's answers in a round used the (round, statement, panelist) index by scanning
the whole round's entries; with the panelist second, it is one contiguous range.

Revision ID: 5d2f0e7c9a41
Revises: 8a7baed985e5
Create Date: 2026-12-06 21:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5d2f0e7c9a41"
down_revision: str | None = "8a7baed985e5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ratings_round_id_statement_id_panelist_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_ratings_round_id_panelist_id_statement_id"),
            ["round_id", "panelist_id", "statement_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ratings_round_id_panelist_id_statement_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_ratings_round_id_statement_id_panelist_id"),
            ["round_id", "statement_id", "panelist_id"],
        )
