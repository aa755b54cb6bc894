"""A "needs attention" line as data: what kind of line it is, its values and its English
sentence, so that a front door can word it in the reader's language (the web console) or
print the sentence as it is (``punchd status``).

The sentence (``text``) stays the one wording of the CLI; ``code`` and ``params`` say the same
thing for a translation: device names, counts and times as values, never a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Param = str | int | float

#: every code a notice may carry, with what it says (a translation exists for each of them:
#: tests/web/test_notices.py)
CODES: dict[str, str] = {
    "no_daemon": "no punchd daemon is running (no heartbeat)",
    "device_failing": "a device's last polls failed (device, failures)",
    "drift_report": "a device clock is off by more than the daemon corrects: an admin checks "
    "it (device, seconds, hint)",
    "drift_correct": "a device clock is off: the daemon sets it (device, seconds, hint)",
    "spool_backlog": "punches wait in the spool (count)",
    "reprocess_stuck": "changes wait to be re-processed for too long (count, since)",
    "calendar_unconfirmed": "a year processed without the official holidays (year)",
    "calendar_unreadable": "the holiday calendar cannot be read (error)",
    "left_disabled": "an interrupted run left a device disabled (device, since)",
    "flagged_punches": "implausible punches stored flagged lately (device, days, total, flags, "
    "n_<flag>, counts)",
    "leaver_punches": "punches by people who had left, stored flagged lately (count, days; the "
    "newest as an example: employee_no, name, enroll_no, device, punched_at)",
    "push_offline": "a push clock has not called in for more than 10 minutes (device, minutes, "
    "since)",
    "push_pending": "push clocks with unknown serial numbers tried to connect and were refused "
    "(count, serials)",
    "arrived_after_close": "punches for days of closed pay periods arrived after the close: "
    "stored, the closed results unchanged (count, months, days)",
    "daemon_silent": "a daemon stopped beating without stopping: dead or stalled; its devices "
    "moved to the others (host, daemon, seconds, devices)",
    "host_skew": "a daemon's host clock is off from the database server's (host, daemon, "
    "seconds, limit)",
    "device_unpolled": "no running daemon may poll a device (device)",
}


@dataclass(frozen=True)
class Notice:
    """``code``: one of :data:`CODES`; ``params``: its values (a device name is a user's text:
    escape it where it is shown); ``text``: the English sentence."""

    code: str
    params: dict[str, Param] = field(default_factory=dict, hash=False)
    text: str = ""
