"""login attempts name the browser that signed in before, so its failures are counted apart

A stranger's failed sign-ins no longer hold back the owner's own browser: attempts from a
browser holding the account's signed device cookie carry its keyed hash; all others carry ''.
The server default lets workers of the previous build keep recording attempts during an upgrade.

Revision ID: 88067b102d79
Revises: 5d2f0e7c9a41
Create Date: 2026-12-08 01:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "88067b102d79"
down_revision: str | None = "5d2f0e7c9a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("device", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_column("device")
