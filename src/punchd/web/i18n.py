"""Languages of the console: gettext catalogues (Babel ``.po`` files, English is the msgid),
compiled in memory at start-up, one Jinja2 environment per language, and the locale's way of
writing dates, times and numbers.

No ``.mo`` file is kept in the repository: the ``.po`` is the one source, read with
:func:`babel.messages.pofile.read_po` and turned into a :class:`gettext.GNUTranslations` by
writing the ``.mo`` into memory.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
DOMAIN = "messages"
#: every language offered, the first one is the msgid language
LANGUAGES = ("en", "zh_Hans")
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文"}


def N_(message: str) -> str:
    """Marks ``message`` for extraction; it is translated where it is shown."""
    return message


def load_translations(language: str) -> gettext.NullTranslations:
    """The catalogue of ``language`` compiled in memory; English: the msgids themselves."""
    if language == "en":
        return gettext.NullTranslations()
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=Locale.parse(language))
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def negotiate(accept_language: str | None) -> str:
    """``zh*`` first among the browser's languages -> zh_Hans, else English. The order of the
    header decides (q-values are rarely anything but descending)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag:
            ranked.append((-q, index, tag.lower()))
    for _q, _i, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return "en"


def known(language: str | None) -> str | None:
    return language if language in LANGUAGES else None


#: the Babel locale whose conventions each language is written in
_LOCALES = {"en": "en_GB", "zh_Hans": "zh_Hans_CN"}


@lru_cache(maxsize=len(LANGUAGES))
def _locale(language: str) -> Locale:
    return Locale.parse(_LOCALES.get(language, "en_GB"))


# A page shows the same few hundred times to everyone who loads it: format each value once
# (Babel parses the locale's patterns on every call).
@lru_cache(maxsize=8192)
def _format(kind: str, value: date | datetime | float, language: str) -> str:
    locale = _locale(language)
    if kind == "datetime":
        return format_datetime(value, "medium", locale=locale)  # type: ignore[arg-type]
    if kind == "date":
        return format_date(value, "medium", locale=locale)  # type: ignore[arg-type]
    if kind == "time":
        return format_time(value, "medium", locale=locale)  # type: ignore[arg-type]
    return format_decimal(value, locale=locale)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Formats:
    """Dates, times and numbers the way ``language`` writes them, on the site's wall clock
    (the values given are already naive site-local times)."""

    language: str

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    def datetime(self, value: datetime | None) -> str:
        return "–" if value is None else _format("datetime", value, self.language)

    def date(self, value: date | None) -> str:
        return "–" if value is None else _format("date", value, self.language)

    def time(self, value: datetime | None) -> str:
        return "–" if value is None else _format("time", value, self.language)

    def number(self, value: float | int | None) -> str:
        return "–" if value is None else _format("number", value, self.language)
