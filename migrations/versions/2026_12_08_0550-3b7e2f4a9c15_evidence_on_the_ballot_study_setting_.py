"""evidence on the ballot: a study setting to show it, and a summary per statement and language

The ballot shows each statement's evidence (its level, its sources and the coordinator's
summary); a study that rates before seeing the evidence turns it off. The server default keeps
every existing study showing it, and lets workers of the previous build keep creating studies.

Revision ID: 3b7e2f4a9c15
Revises: 88067b102d79
Create Date: 2026-12-08 05:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b7e2f4a9c15"
down_revision: str | None = "88067b102d79"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "show_evidence_on_ballot", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence_summary", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_column("evidence_summary")
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_column("show_evidence_on_ballot")
