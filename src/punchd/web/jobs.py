"""Collect-now jobs: a collection a person started from the console, running in a thread of
its own so that it finishes even when the browser tab is closed.

A device that a running job of this process collects is not started a second time: a request
that names it links to that job instead (two clerks pressing at once collect it once). Across
processes (the daemon, another console, the CLI) the collector's lease guarantees the same.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from punchd import logs
from punchd.app import Actor, Site, collection
from punchd.errors import PunchdError

log = logs.get_logger(component="web.jobs")

#: how long a job waits for a device another collector holds before giving up on it
LEASE_WAIT_S = 3.0
#: finished jobs are kept this long (seconds) for their pages, then forgotten
KEEP_FINISHED_S = 6 * 3600
#: at most this many finished jobs are kept
KEEP_FINISHED_MAX = 200


@dataclass
class DeviceProgress:
    """One device of a job, as its page shows it."""

    name: str
    state: str = "waiting"  # waiting | running | busy | done | failed
    done: int = 0
    total: int = 0
    records_read: int | None = None
    records_new: int | None = None
    duration_s: float | None = None
    error: str | None = None
    error_kind: str | None = None
    #: who holds the device while this job waits for it ("daemon", "other")
    held_by: str | None = None


@dataclass
class Job:
    id: str
    devices: list[DeviceProgress]
    started_by: str
    started_at: datetime  # naive UTC
    finished_at: datetime | None = None
    error: str | None = None  # the whole job failed before reaching a device
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def state(self) -> str:
        return "running" if self.running else "done"

    def device(self, name: str) -> DeviceProgress | None:
        return next((d for d in self.devices if d.name == name), None)

    def snapshot(self) -> dict:
        """The job as plain data (the API's answer and a consistent view for a page)."""
        with self._lock:
            return {
                "id": self.id,
                "state": self.state,
                "started_by": self.started_by,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "error": self.error,
                "devices": [
                    {
                        "name": d.name,
                        "state": d.state,
                        "done": d.done,
                        "total": d.total,
                        "records_read": d.records_read,
                        "records_new": d.records_new,
                        "duration_s": d.duration_s,
                        "error": d.error,
                        "error_kind": d.error_kind,
                        "held_by": d.held_by,
                    }
                    for d in self.devices
                ],
            }


class _Watch(collection.CollectionWatch):
    """Carries the collector's progress into the job."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def started(self, device: str) -> None:
        with self.job._lock:
            if d := self.job.device(device):
                d.state = "running"

    def progress(self, device: str, done: int, total: int) -> None:
        with self.job._lock:
            if d := self.job.device(device):
                d.done, d.total = done, total

    def waiting(self, device: str, lease: object | None) -> None:
        purpose = getattr(lease, "purpose", None)
        with self.job._lock:
            if d := self.job.device(device):
                d.state = "busy"
                d.held_by = "daemon" if purpose not in (None, "manual", "set-time") else "other"

    def finished(self, device: str, result: collection.RunResult) -> None:
        with self.job._lock:
            if d := self.job.device(device):
                d.state = "done" if result.ok else "failed"
                d.records_read = result.records_read
                d.records_new = result.records_new
                d.duration_s = result.duration_s
                d.error = logs.scrub(result.error) if result.error else None
                d.error_kind = result.error_kind


Runner = Callable[..., list]


class JobRegistry:
    """The collect-now jobs of this process."""

    def __init__(
        self,
        site: Site,
        *,
        now: Callable[[], datetime],
        runner: Runner | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.site = site
        self.now = now
        self.runner = runner or collection.collect_now
        #: told when a job has changed what the site's pages show (before it reads as done)
        self.on_change = on_change
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, names: Sequence[str], actor: Actor) -> Job:
        """A job collecting ``names`` (none: every enabled device). A device a running job
        already collects is left to that job; when every device named is taken, that job
        is returned instead of a new one. ConfigError for an unknown device, NoDevices when
        nothing is left to collect."""
        configs = collection.pick_devices(self.site.settings, list(names) or None)
        with self._lock:
            self._forget_old()
            busy = {
                d.name: job
                for job in self._jobs.values()
                if job.running
                for d in job.devices
                if d.state in ("waiting", "running", "busy")
            }
            todo = [c for c in configs if c.name not in busy]
            if not todo:
                return busy[configs[0].name]
            job = Job(
                id=secrets.token_urlsafe(12),
                devices=[DeviceProgress(c.name) for c in todo],
                started_by=actor.name,
                started_at=self.now(),
            )
            self._jobs[job.id] = job
            thread = threading.Thread(
                target=self._run, args=(job, todo, actor), name=f"collect-{job.id}", daemon=True
            )
            self._threads.append(thread)
        log.info("collect now", job=job.id, devices=[c.name for c in todo], by=actor.name)
        thread.start()
        return job

    def _run(self, job: Job, configs: list, actor: Actor) -> None:
        try:
            self.runner(self.site, configs, watch=_Watch(job), actor=actor, wait=LEASE_WAIT_S)
        except PunchdError as exc:
            with job._lock:
                job.error = logs.scrub(str(exc))
        except Exception as exc:  # a bug: the page must still end, the log says what
            log.exception("collect-now job failed", job=job.id)
            with job._lock:
                job.error = f"unexpected failure ({exc.__class__.__name__}); see the log"
        finally:
            self.on_change()
            with job._lock:
                for d in job.devices:
                    if d.state in ("waiting", "running", "busy"):
                        d.state = "failed"
                        d.error = d.error or job.error
                job.finished_at = self.now()

    def _forget_old(self) -> None:
        now = self.now()
        finished = sorted(
            (j for j in self._jobs.values() if not j.running), key=lambda j: j.finished_at
        )
        for i, job in enumerate(finished):
            age = (now - job.finished_at).total_seconds()  # type: ignore[operator]
            if age > KEEP_FINISHED_S or len(finished) - i > KEEP_FINISHED_MAX:
                del self._jobs[job.id]
        self._threads = [t for t in self._threads if t.is_alive()]

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait for every job's thread (tests, shutdown); True when all have ended."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)
