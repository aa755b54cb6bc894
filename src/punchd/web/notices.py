"""What needs attention, in the reader's language: each notice code of
:mod:`punchd.notices` worded by one function of the catalogue's messages and the notice's
values; an unknown code (or values that do not fit) falls back to the English sentence.

The result is plain text: the page escapes it where it is shown (a device name is whatever
the configuration says, markup included), so nothing here is ever marked safe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from gettext import NullTranslations
from typing import Any, Protocol

from punchd.web.i18n import Formats
from punchd.web.views import drift_words

Params = dict[str, Any]


class NoticeLike(Protocol):
    """A :class:`punchd.notices.Notice` (the console reads it through the application layer)."""

    code: str
    params: dict[str, str | int | float]
    text: str


def _no_daemon(t: NullTranslations, p: Params, fmt: Formats) -> str:
    return t.gettext(
        "No punchd daemon is running (no heartbeat): the clocks are only collected when "
        "someone presses Collect now."
    )


def _device_failing(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["failures"])
    return t.ngettext(
        "%(device)s: %(num)s failed poll in a row",
        "%(device)s: %(num)s failed polls in a row",
        n,
    ) % {"device": p["device"], "num": fmt.number(n)}


def _drift(t: NullTranslations, p: Params) -> str:
    """ "8 h 00 min behind", translated."""
    words = drift_words(float(p["seconds"]))
    if words is None:
        raise ValueError("no drift")
    message, values = words
    return t.gettext(message) % values


def _hint(t: NullTranslations, p: Params) -> str:
    if p.get("hint") == "dst":
        return t.gettext("Is the clock's time zone (daylight saving) right?")
    if p.get("hint") == "zone":
        return t.gettext("Is the clock's time zone right?")
    return ""


def _sentences(fmt: Formats, *parts: str) -> str:
    """Sentences one after the other: Chinese puts no space between them."""
    return ("" if fmt.language == "zh_Hans" else " ").join(p for p in parts if p)


def _drift_report(t: NullTranslations, p: Params, fmt: Formats) -> str:
    said = t.gettext(
        "%(device)s: the clock is %(drift)s, more than punchd corrects by itself: check the "
        "clock, then set its time (punchd devices set-time %(device)s)."
    ) % {"device": p["device"], "drift": _drift(t, p)}
    return _sentences(fmt, said, _hint(t, p))


def _drift_correct(t: NullTranslations, p: Params, fmt: Formats) -> str:
    said = t.gettext("%(device)s: the clock is %(drift)s; punchd sets it right by itself.") % {
        "device": p["device"],
        "drift": _drift(t, p),
    }
    return _sentences(fmt, said, _hint(t, p))


def _spool_backlog(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["count"])
    return t.ngettext(
        "%(num)s punch waits in the spool.", "%(num)s punches wait in the spool.", n
    ) % {"num": fmt.number(n)}


def _reprocess_stuck(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["count"])
    return t.ngettext(
        "%(num)s change has waited to be re-processed since %(since)s: re-processing fails; "
        "run “punchd process” for its dates to see why.",
        "%(num)s changes have waited to be re-processed since %(since)s: re-processing "
        "fails; run “punchd process” for their dates to see why.",
        n,
    ) % {"num": fmt.number(n), "since": _time(p, fmt)}


def _calendar_unconfirmed(t: NullTranslations, p: Params, fmt: Formats) -> str:
    return t.gettext(
        "The holiday calendar for %(year)s is not confirmed: enter the official holidays and "
        "make-up workdays, then confirm the year."
    ) % {"year": p["year"]}


def _calendar_unreadable(t: NullTranslations, p: Params, fmt: Formats) -> str:
    return t.gettext("The holiday calendar cannot be read: %(error)s") % {"error": p["error"]}


def _left_disabled(t: NullTranslations, p: Params, fmt: Formats) -> str:
    return t.gettext(
        "%(device)s: left disabled by an interrupted collection since %(since)s, so nobody "
        "can punch on it; the next collection enables it again."
    ) % {"device": p["device"], "since": _time(p, fmt)}


#: why a punch was stored flagged (``att_punch.flag``), with how many
FLAGS: dict[str, Callable[[NullTranslations], str]] = {
    "power_loss": lambda t: t.gettext("%(num)s dated before 2001 (the clock had lost its time)"),
    "future": lambda t: t.gettext("%(num)s dated in the future"),
}


def _flagged_punches(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["total"])
    flags = [f for f in str(p["flags"]).split(",") if f]
    if all(f in FLAGS for f in flags):
        counts = ("；" if fmt.language == "zh_Hans" else "; ").join(
            FLAGS[f](t) % {"num": fmt.number(int(p[f"n_{f}"]))} for f in flags
        )
    else:  # a flag this console does not know: the counts as the collector wrote them
        counts = str(p["counts"])
    return t.ngettext(
        "%(device)s: %(num)s implausible punch stored in the last %(days)s days (%(counts)s); "
        "it is not counted as attendance. See the flagged punches in the detail report and "
        "add a manual punch where one is missing.",
        "%(device)s: %(num)s implausible punches stored in the last %(days)s days "
        "(%(counts)s); they are not counted as attendance. See the flagged punches in the "
        "detail report and add a manual punch where one is missing.",
        n,
    ) % {"device": p["device"], "num": fmt.number(n), "days": p["days"], "counts": counts}


def _leaver_punches(t: NullTranslations, p: Params, fmt: Formats) -> str:
    # The console's notice names nobody (its reader may see only some departments): the
    # detail report, scoped to the reader, says who.
    n = int(p["count"])
    return t.ngettext(
        "%(num)s punch by someone who has left was stored in the last %(days)s days; it is "
        "not counted as attendance. See who in the detail report (flagged punches) and "
        "remove them from the clocks.",
        "%(num)s punches by people who have left were stored in the last %(days)s days; they "
        "are not counted as attendance. See who in the detail report (flagged punches) and "
        "remove them from the clocks.",
        n,
    ) % {"num": fmt.number(n), "days": p["days"]}


def _push_offline(t: NullTranslations, p: Params, fmt: Formats) -> str:
    return t.gettext(
        "%(device)s: the push clock has not called in since %(since)s. Check its network "
        "cable, its power and its server address."
    ) % {"device": p["device"], "since": _time(p, fmt)}


def _push_pending(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["count"])
    return t.ngettext(
        "%(num)s push clock with an unknown serial number tried to connect and was refused "
        "(%(serials)s); see “Waiting to be accepted” on the clocks page.",
        "%(num)s push clocks with unknown serial numbers tried to connect and were refused "
        "(%(serials)s); see “Waiting to be accepted” on the clocks page.",
        n,
    ) % {"num": fmt.number(n), "serials": p["serials"]}


def _arrived_after_close(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["count"])
    return t.ngettext(
        "Punches for %(num)s employee-day of a closed pay period (%(months)s) arrived after "
        "the close: they are stored, the closed results are unchanged. Reopen the period to "
        "count them.",
        "Punches for %(num)s employee-days of closed pay periods (%(months)s) arrived after "
        "the close: they are stored, the closed results are unchanged. Reopen the period to "
        "count them.",
        n,
    ) % {"num": fmt.number(n), "months": p["months"]}


def _daemon_silent(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["seconds"])
    return t.ngettext(
        "The collector #%(daemon)s on %(host)s has not reported for %(num)s second (stopped "
        "or stalled); its clocks (%(devices)s) are collected by the other collectors.",
        "The collector #%(daemon)s on %(host)s has not reported for %(num)s seconds (stopped "
        "or stalled); its clocks (%(devices)s) are collected by the other collectors.",
        n,
    ) % {"daemon": p["daemon"], "host": p["host"], "num": fmt.number(n), "devices": p["devices"]}


def _host_skew(t: NullTranslations, p: Params, fmt: Formats) -> str:
    n = int(p["seconds"])
    message = (
        "The clock of the collector #%(daemon)s on %(host)s is %(num)s s ahead of the "
        "database server's: it does not set clocks until its time is right."
        if n > 0
        else "The clock of the collector #%(daemon)s on %(host)s is %(num)s s behind the "
        "database server's: it does not set clocks until its time is right."
    )
    return t.gettext(message) % {
        "daemon": p["daemon"],
        "host": p["host"],
        "num": fmt.number(abs(n)),
    }


def _device_unpolled(t: NullTranslations, p: Params, fmt: Formats) -> str:
    return t.gettext(
        "%(device)s: no running collector may collect this clock (its host is down, or "
        "the collectors are limited to other clocks)."
    ) % {"device": p["device"]}


def _time(p: Params, fmt: Formats) -> str:
    """``since_at`` (ISO, the site's wall clock) in the locale's format, else ``since``."""
    try:
        return fmt.datetime(datetime.fromisoformat(str(p["since_at"])))
    except (KeyError, ValueError):
        return str(p["since"])


#: notice code -> its wording in the reader's language
MESSAGES: dict[str, Callable[[NullTranslations, Params, Formats], str]] = {
    "no_daemon": _no_daemon,
    "device_failing": _device_failing,
    "drift_report": _drift_report,
    "drift_correct": _drift_correct,
    "spool_backlog": _spool_backlog,
    "reprocess_stuck": _reprocess_stuck,
    "calendar_unconfirmed": _calendar_unconfirmed,
    "calendar_unreadable": _calendar_unreadable,
    "left_disabled": _left_disabled,
    "flagged_punches": _flagged_punches,
    "leaver_punches": _leaver_punches,
    "push_offline": _push_offline,
    "push_pending": _push_pending,
    "arrived_after_close": _arrived_after_close,
    "daemon_silent": _daemon_silent,
    "host_skew": _host_skew,
    "device_unpolled": _device_unpolled,
}


def say(notice: NoticeLike, translations: NullTranslations, fmt: Formats) -> str:
    """``notice`` in the catalogue's language (plain text: escape it where it is shown)."""
    word = MESSAGES.get(notice.code)
    if word is None:
        return notice.text
    try:
        return word(translations, dict(notice.params), fmt)
    except (KeyError, ValueError, TypeError):  # values that do not fit: the English sentence
        return notice.text


class Sayer:
    """:func:`say` for one language, as the templates call it: ``{{ say(notice) }}``."""

    def __init__(self, translations: NullTranslations, fmt: Formats) -> None:
        self.translations, self.fmt = translations, fmt

    def __call__(self, notice: NoticeLike) -> str:
        return say(notice, self.translations, self.fmt)
