"""A local durable spool for punches read while the database was unreachable.

Each batch is one JSON-lines file, written to a temporary name, fsync'd, renamed into
place and the directory fsync'd: after a crash a batch is either wholly there or not at
all. Files are named by a nanosecond sequence, so they flush in the order they were
read. The spool never justifies clearing a device: only a database commit does.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from punchd import logs, private
from punchd.clock import utcnow
from punchd.storage import collection as store

SUFFIX = ".jsonl"
_sequence = itertools.count()
_DT_FIELDS = ("punched_at", "punched_at_utc")


@dataclass(frozen=True)
class SpoolBatch:
    path: Path
    device: str
    driver: str
    address: str
    rows: list[dict[str, Any]]


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    # -- writing ------------------------------------------------------------------------
    def write(self, *, device: str, driver: str, address: str, rows: Sequence[dict]) -> int:
        """Spool the rows not already spooled for this device; returns how many.

        A device that is not cleared is read whole on every poll: without this, each
        poll during an outage would spool the same punches again.
        """
        seen = self._keys(device)
        fresh = []
        for row in rows:
            key = _key(row)
            if key not in seen:
                seen.add(key)
                fresh.append(row)
        if not fresh:
            return 0
        private.make_dirs(self.directory)
        # the sequence number: two threads (push uploads) may spool within one nanosecond,
        # and a rename onto an existing name would drop an acknowledged batch
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence):08d}{SUFFIX}"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        header = {"device": device, "driver": driver, "address": address, "count": len(fresh)}
        with open(private.open_new(tmp), "w", encoding="utf-8") as fh:
            fh.write(json.dumps(header) + "\n")
            for row in fresh:
                fh.write(json.dumps({k: _plain(v) for k, v in row.items()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.directory)
        return len(fresh)

    def _keys(self, device: str) -> set[tuple]:
        keys: set[tuple] = set()
        for batch in self.batches():
            if batch.device == device:
                keys.update(_key(row) for row in batch.rows)
        return keys

    # -- reading ------------------------------------------------------------------------
    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    def backlog(self) -> int:
        """Punches waiting in the spool."""
        total = 0
        for path in self.files():
            try:
                with open(path, encoding="utf-8") as fh:
                    total += int(json.loads(fh.readline()).get("count", 0))
            except (OSError, ValueError):
                continue
        return total

    def batches(self) -> Iterator[SpoolBatch]:
        for path in self.files():
            try:
                yield _read(path)
            except (OSError, ValueError, KeyError) as exc:
                bad = self.directory / "bad"
                private.make_dirs(bad)
                os.replace(path, bad / path.name)
                logs.get_logger().error(
                    "unreadable spool file set aside", file=str(bad / path.name), error=str(exc)
                )

    # -- flushing -----------------------------------------------------------------------
    def flush(self, engine: Engine) -> int:
        """Store every spooled batch, oldest first; stop at the first database error
        (the batch stays for the next try). Returns the punches newly stored."""
        from punchd.collector import sink  # the write path: not for a look at the backlog

        stored = 0
        for batch in self.batches():
            now = utcnow()
            with engine.begin() as conn:
                device_id = store.upsert_device(
                    conn, name=batch.device, driver=batch.driver, address=batch.address
                )
                run_id = store.start_run(
                    conn, device_id, trigger="spool", host=os.uname().nodename, started_at=now
                )
                rows = [dict(r, device_id=device_id, run_id=run_id) for r in batch.rows]
                # The one write path: their days are re-processed like a collection's.
                new = sink.store_punches(conn, device_id, batch.device, rows, reason="spool").new
                store.finish_run(
                    conn,
                    run_id,
                    status="ok",
                    finished_at=utcnow(),
                    records_read=len(rows),
                    records_new=new,
                )
            batch.path.unlink()
            _fsync_dir(self.directory)
            stored += new
            logs.get_logger(device=batch.device).info(
                "spool flushed", file=batch.path.name, records=len(rows), records_new=new
            )
        return stored


def _key(row: dict) -> tuple:
    return (row["enroll_no"], _plain(row["punched_at"]), row["state"])


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _read(path: Path) -> SpoolBatch:
    with open(path, encoding="utf-8") as fh:
        header = json.loads(fh.readline())
        rows = []
        for line in fh:
            row = json.loads(line)
            for key in (*_DT_FIELDS, "collected_at"):
                if row.get(key):
                    row[key] = datetime.fromisoformat(row[key])
            rows.append(row)
    if len(rows) != header["count"]:
        raise ValueError(f"{path.name}: {len(rows)} rows, header says {header['count']}")
    return SpoolBatch(path, header["device"], header["driver"], header["address"], rows)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
