"""Face and palm templates of the employees (``att_bio_template``), encrypted, copied between
push clocks in the ADMS protocol's BIODATA; the biometric algorithm versions each push clock
reported (``att_push_state.bio_versions``), so that a template goes only to a clock that
reads it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "att_bio_template",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "employee_id",
            sa.Integer(),
            sa.ForeignKey("att_employee.id", name="fk_att_bio_template_employee_id_att_employee"),
            nullable=False,
        ),
        sa.Column("bio_type", sa.Integer(), nullable=False),
        sa.Column("bio_no", sa.Integer(), nullable=False),
        sa.Column("bio_index", sa.Integer(), nullable=False),
        sa.Column("major_ver", sa.String(16), nullable=False),
        sa.Column("minor_ver", sa.String(16), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.Column("duress", sa.Integer(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("source_device", sa.String(64), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_att_bio_template"),
        sa.UniqueConstraint(
            "employee_id",
            "bio_type",
            "bio_no",
            "bio_index",
            name="uq_att_bio_template_employee_id_bio_type_bio_no_bio_index",
        ),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    with op.batch_alter_table("att_push_state") as batch:
        batch.add_column(sa.Column("bio_versions", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("att_push_state") as batch:
        batch.drop_column("bio_versions")
    # the templates go with the table: they can be learnt again from the clocks
    op.drop_table("att_bio_template")
