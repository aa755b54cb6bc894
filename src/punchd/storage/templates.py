"""Fingerprint templates in the database (``att_finger_template``), encrypted at rest.

Each template is sealed with AES-256-GCM under ``[enrolment] template_key``, a fresh
12-byte nonce per write, the employee and finger as associated data (a sealed template
moved to another row does not open). Stored as ``version byte || nonce || ciphertext``.
The key and the templates never reach a log or a message: errors name the row only.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from punchd.clock import utc_stamp
from punchd.errors import PunchdError
from punchd.storage.schema import att_employee, att_finger_template

#: First byte of a sealed template: the sealing scheme (AES-256-GCM, 12-byte nonce).
SCHEME = b"\x01"
NONCE_BYTES = 12


class TemplateKeyWrong(PunchdError):
    """A stored template does not open with the configured key (another key, or altered)."""


class TemplateCipher:
    """Seals and opens templates with one key (32 bytes, URL-safe base64 text)."""

    def __init__(self, key: str) -> None:
        self._aead = AESGCM(base64.urlsafe_b64decode(key.strip().encode("ascii")))

    def __repr__(self) -> str:  # never the key
        return "TemplateCipher(<key>)"

    @staticmethod
    def _bound(employee_id: int, finger: int) -> bytes:
        return f"att_finger_template:{employee_id}:{finger}".encode("ascii")

    def seal(self, employee_id: int, finger: int, template: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, template, self._bound(employee_id, finger))
        return SCHEME + nonce + sealed

    def open(self, employee_id: int, finger: int, sealed: bytes) -> bytes:
        if sealed[:1] != SCHEME:
            raise TemplateKeyWrong(f"template of employee {employee_id} finger {finger}: unknown")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._bound(employee_id, finger))
        except InvalidTag:
            raise TemplateKeyWrong(
                f"the stored template of employee {employee_id} finger {finger} does not "
                "open with [enrolment] template_key (another key, or altered)"
            ) from None


def new_key() -> str:
    """A fresh template key."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True, slots=True)
class Row:
    """One stored finger, opened."""

    employee_id: int
    finger: int
    template: bytes = field(repr=False)
    fp_version: str | None
    valid: int
    source_device: str


def load(conn: Connection, cipher: TemplateCipher) -> list[Row]:
    """Every stored finger, opened (TemplateKeyWrong when one does not open)."""
    t = att_finger_template
    rows = conn.execute(
        select(
            t.c.employee_id, t.c.finger, t.c.template, t.c.fp_version, t.c.valid, t.c.source_device
        )
    ).all()
    return [
        Row(
            r.employee_id,
            r.finger,
            cipher.open(r.employee_id, r.finger, bytes(r.template)),
            r.fp_version,
            r.valid,
            r.source_device,
        )
        for r in rows
    ]


def employee_ids(conn: Connection) -> dict[str, int]:
    """enrol number → employee id, of employees that have one."""
    e = att_employee
    rows = conn.execute(select(e.c.enroll_no, e.c.id).where(e.c.enroll_no.is_not(None)))
    return {r.enroll_no: r.id for r in rows}


def save(
    conn: Connection,
    cipher: TemplateCipher,
    rows: Mapping[int, Mapping[int, tuple[bytes, str | None, int, str]]],
) -> int:
    """Store ``employee id → finger → (template, fp_version, valid, source device)``,
    replacing a finger already stored; the number of fingers written."""
    t = att_finger_template
    now = utc_stamp()
    written = 0
    for employee_id, fingers in rows.items():
        for finger, (template, fp_version, valid, source) in fingers.items():
            values = {
                "template": cipher.seal(employee_id, finger, template),
                "fp_version": fp_version,
                "valid": valid,
                "source_device": source[:64],
                "stored_at": now,
            }
            done = conn.execute(
                update(t)
                .where(t.c.employee_id == employee_id, t.c.finger == finger)
                .values(**values)
            ).rowcount
            if not done:
                conn.execute(insert(t).values(employee_id=employee_id, finger=finger, **values))
            written += 1
    return written


def counts_by_source(conn: Connection, employee_id: int) -> dict[str, int]:
    """How many fingers are stored for one employee, by the device each was learnt from:
    counts only (the console's employee page), never a template."""
    t = att_finger_template
    rows = conn.execute(
        select(t.c.source_device, func.count())
        .where(t.c.employee_id == employee_id)
        .group_by(t.c.source_device)
    )
    return {r[0]: int(r[1]) for r in rows}
