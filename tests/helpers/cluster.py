"""Daemons registered straight in the database, as a cluster of collectors sharing it looks
to the status and the console (no process behind them)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine

from punchd.clock import utc_stamp
from punchd.storage import cluster, schema


def register_daemon(engine: Engine, host: str, devices: list[str], skew_s: float = 0) -> int:
    """A daemon on ``host`` that may poll ``devices``, its host clock ``skew_s`` seconds off
    the database server's; returns its id."""
    with engine.begin() as conn:
        return cluster.register_daemon(
            conn,
            instance=f"i-{host}",
            host=host,
            pid=4242,
            version="test",
            site=None,
            devices=devices,
            host_clock=utc_stamp() + timedelta(seconds=skew_s),
        )


def silence(engine: Engine, daemon_id: int, seconds: float) -> None:
    """Move ``daemon_id``'s last heartbeat ``seconds`` back, by the database server's clock."""
    with engine.begin() as conn:
        now = cluster.database_now(conn)
        conn.execute(
            update(schema.att_daemon)
            .where(schema.att_daemon.c.id == daemon_id)
            .values(heartbeat_at=now - timedelta(seconds=seconds))
        )
