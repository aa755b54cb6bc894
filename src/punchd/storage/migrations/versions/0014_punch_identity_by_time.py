"""att_punch's identity key in time order: (device_id, punched_at, enroll_no, state) instead
of (device_id, enroll_no, punched_at, state). The same rows are unique; the order is what
the collection needs: a clock's records come in time order, so new punches go in at the
end of the key instead of among every person's older ones (inserts no longer slow down
as the table grows), and "what of this batch is stored" is one range of it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

NAME = "uq_att_punch_identity"
BY_TIME = ["device_id", "punched_at", "enroll_no", "state"]
BY_PERSON = ["device_id", "enroll_no", "punched_at", "state"]


def _key(columns: list[str]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":  # no ALTER of a table's constraints: the table is copied
        with op.batch_alter_table("att_punch", recreate="always") as batch:
            batch.drop_constraint(NAME, type_="unique")
            batch.create_unique_constraint(NAME, columns)
        return
    # One statement: MySQL/MariaDB would refuse to drop the index the device_id foreign key
    # uses on its own; PostgreSQL does both in order.
    listed = ", ".join(columns)
    drop = "DROP INDEX" if dialect in ("mysql", "mariadb") else "DROP CONSTRAINT"
    op.execute(f"ALTER TABLE att_punch {drop} {NAME}, ADD CONSTRAINT {NAME} UNIQUE ({listed})")


def upgrade() -> None:
    _key(BY_TIME)


def downgrade() -> None:
    _key(BY_PERSON)
