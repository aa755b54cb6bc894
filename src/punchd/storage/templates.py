"""Fingerprint templates in the database (``att_finger_template``), encrypted at rest.

Each template is sealed with AES-256-GCM under ``[enrolment] template_key``, a fresh
12-byte nonce per write, the employee and finger as associated data (a sealed template
moved to another row does not open). Stored as ``version byte || nonce || ciphertext``.
The key and the templates never reach a log or a message: errors name the row only.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from punchd.clock import utc_stamp
from punchd.errors import PunchdError
from punchd.storage.schema import att_bio_template, att_employee, att_finger_template

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

    # -- faces, palms (att_bio_template) --------------------------------------------------
    @staticmethod
    def _bio_bound(employee_id: int, key: BioKey) -> bytes:
        bio_type, no, index = key
        return f"att_bio_template:{employee_id}:{bio_type}:{no}:{index}".encode("ascii")

    def seal_bio(self, employee_id: int, key: BioKey, template: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, template, self._bio_bound(employee_id, key))
        return SCHEME + nonce + sealed

    def open_bio(self, employee_id: int, key: BioKey, sealed: bytes) -> bytes:
        where = f"template of employee {employee_id} type {key[0]} no {key[1]} index {key[2]}"
        if sealed[:1] != SCHEME:
            raise TemplateKeyWrong(f"{where}: unknown")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, self._bio_bound(employee_id, key))
        except InvalidTag:
            raise TemplateKeyWrong(
                f"the stored {where} does not open with [enrolment] template_key "
                "(another key, or altered)"
            ) from None


#: a face/palm template's place: (BIODATA Type, No, Index)
BioKey = tuple[int, int, int]


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


# -- faces, palms … (att_bio_template, revision 0012) ------------------------------------------


@dataclass(frozen=True, slots=True)
class BioRow:
    """One stored face/palm template: its metadata, and the template when opened (``b""``
    in a plan, which never opens one)."""

    employee_id: int
    bio_type: int
    no: int
    index: int
    major_ver: str
    minor_ver: str
    format: int
    valid: int
    duress: int
    source_device: str
    template: bytes = field(default=b"", repr=False)

    @property
    def key(self) -> BioKey:
        return (self.bio_type, self.no, self.index)


_BIO_META = (
    att_bio_template.c.employee_id,
    att_bio_template.c.bio_type,
    att_bio_template.c.bio_no,
    att_bio_template.c.bio_index,
    att_bio_template.c.major_ver,
    att_bio_template.c.minor_ver,
    att_bio_template.c.format,
    att_bio_template.c.valid,
    att_bio_template.c.duress,
    att_bio_template.c.source_device,
)


def _bio_row(r: object, template: bytes = b"") -> BioRow:
    return BioRow(
        r.employee_id,  # type: ignore[attr-defined]
        r.bio_type,  # type: ignore[attr-defined]
        r.bio_no,  # type: ignore[attr-defined]
        r.bio_index,  # type: ignore[attr-defined]
        r.major_ver,  # type: ignore[attr-defined]
        r.minor_ver,  # type: ignore[attr-defined]
        r.format,  # type: ignore[attr-defined]
        r.valid,  # type: ignore[attr-defined]
        r.duress,  # type: ignore[attr-defined]
        r.source_device,  # type: ignore[attr-defined]
        template,
    )


def bio_of(conn: Connection, employee_ids: Iterable[int]) -> dict[int, dict[BioKey, BioRow]]:
    """employee id → (type, no, index) → stored template's metadata (not opened: planning
    needs no key)."""
    t = att_bio_template
    found: dict[int, dict[BioKey, BioRow]] = {}
    ids = sorted(set(employee_ids))
    for start in range(0, len(ids), 500):
        rows = conn.execute(select(*_BIO_META).where(t.c.employee_id.in_(ids[start : start + 500])))
        for r in rows:
            row = _bio_row(r)
            found.setdefault(row.employee_id, {})[row.key] = row
    return found


def employee_id_of(conn: Connection, enroll_no: str) -> int | None:
    """The id of the employee with this enrol number (None: nobody)."""
    e = att_employee
    return conn.execute(select(e.c.id).where(e.c.enroll_no == enroll_no)).scalars().first()


def open_bio(conn: Connection, cipher: TemplateCipher, employee_id: int, key: BioKey) -> BioRow:
    """One stored template, opened (KeyError when not stored)."""
    t = att_bio_template
    r = conn.execute(
        select(*_BIO_META, t.c.template).where(
            t.c.employee_id == employee_id,
            t.c.bio_type == key[0],
            t.c.bio_no == key[1],
            t.c.bio_index == key[2],
        )
    ).first()
    if r is None:
        raise KeyError(key)
    return _bio_row(r, cipher.open_bio(employee_id, key, bytes(r.template)))


def save_bio(conn: Connection, cipher: TemplateCipher, rows: Iterable[BioRow]) -> int:
    """Store these templates (``template`` in the clear, sealed here), replacing one stored
    in the same place; the number written."""
    t = att_bio_template
    now = utc_stamp()
    written = 0
    for row in rows:
        values = {
            "major_ver": row.major_ver[:16],
            "minor_ver": row.minor_ver[:16],
            "format": row.format,
            "valid": row.valid,
            "duress": row.duress,
            "template": cipher.seal_bio(row.employee_id, row.key, row.template),
            "source_device": row.source_device[:64],
            "stored_at": now,
        }
        where = (
            t.c.employee_id == row.employee_id,
            t.c.bio_type == row.bio_type,
            t.c.bio_no == row.no,
            t.c.bio_index == row.index,
        )
        if not conn.execute(update(t).where(*where).values(**values)).rowcount:
            conn.execute(
                insert(t).values(
                    employee_id=row.employee_id,
                    bio_type=row.bio_type,
                    bio_no=row.no,
                    bio_index=row.index,
                    **values,
                )
            )
        written += 1
    return written
