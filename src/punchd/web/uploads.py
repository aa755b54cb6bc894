"""Checked roster uploads kept between the check and the confirm step.

A roster is checked when it is uploaded and imported only when the clerk confirms what the
check showed: the checked roster waits here, in the console's memory (the console is one
process), under a random id bound to the session that uploaded it, for at most
:data:`KEEP_MINUTES`. The confirm step takes the upload's lock, so a confirm sent twice
(a double click, a resent form) imports once and the second request sees the first one's
result.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

#: how long a checked upload waits for its confirm
KEEP_MINUTES = 30
#: uploads kept at most (the oldest are dropped first): a roster can be 100,000 rows
MAX_UPLOADS = 20


@dataclass
class Upload:
    id: str
    session_id: int
    filename: str
    checked_at: datetime  # naive UTC
    check: Any  # punchd.app.people.RosterCheck
    #: after the import: its result (RosterImport), or the errors that refused it
    result: Any = None
    refused: list[Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class UploadStore:
    def __init__(self, keep: timedelta = timedelta(minutes=KEEP_MINUTES)) -> None:
        self._keep = keep
        self._uploads: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session_id: int, filename: str, check: Any, *, now: datetime) -> Upload:
        upload = Upload(secrets.token_urlsafe(18), session_id, filename, now, check)
        with self._lock:
            self._prune(now)
            while len(self._uploads) >= MAX_UPLOADS:
                self._uploads.popitem(last=False)
            self._uploads[upload.id] = upload
        return upload

    def get(self, upload_id: str, session_id: int, *, now: datetime) -> Upload | None:
        """The upload, if it is this session's and has not expired; None otherwise."""
        with self._lock:
            self._prune(now)
            upload = self._uploads.get(upload_id)
        if upload is None or upload.session_id != session_id:
            return None
        return upload

    def _prune(self, now: datetime) -> None:
        for key in [k for k, u in self._uploads.items() if now - u.checked_at > self._keep]:
            del self._uploads[key]
