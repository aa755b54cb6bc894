"""Every message of the console has a Chinese translation; the catalogue compiles."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from punchd.web import i18n

METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extracted() -> dict[str, str]:
    """msgid -> where it is used, from the templates and the python files of punchd.web."""
    found: dict[str, str] = {}
    for filename, lineno, message, _c, _ctx in extract_from_dir(
        i18n.HERE, METHODS, options_map=OPTIONS
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:  # _(variable) has no msgid to translate
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_every_message_has_a_chinese_translation() -> None:
    path = Path(i18n.LOCALE_DIR) / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh)
    messages = extracted()
    assert len(messages) > 100
    missing = []
    for msgid, where in sorted(messages.items()):
        entry = catalog.get(msgid)
        text = None if entry is None else entry.string
        if isinstance(text, tuple | list):
            text = text[0] if all(text) else None
        if not text or entry.fuzzy:
            missing.append(f"{where}: {msgid!r}")
    assert missing == [], "no zh_Hans translation (see docs/web.md):\n" + "\n".join(missing)


def test_catalogue_compiles_in_memory() -> None:
    zh = i18n.load_translations("zh_Hans")
    assert zh.gettext("Sign in") == "登录"
    assert zh.ngettext("%(num)s punch waits in the spool.", "%(num)s punches wait in the spool.", 5)
    assert i18n.load_translations("en").gettext("Sign in") == "Sign in"


def test_negotiation() -> None:
    assert i18n.negotiate("zh-CN,zh;q=0.9") == "zh_Hans"
    assert i18n.negotiate("zh-TW") == "zh_Hans"
    assert i18n.negotiate("en-US,zh;q=0.5") == "en"
    assert i18n.negotiate("fr;q=0.9,zh;q=0.8") == "zh_Hans"
    assert i18n.negotiate("de") == "en"
    assert i18n.negotiate(None) == "en"
    assert i18n.negotiate("en;q=0.1,zh;q=0.9") == "zh_Hans"


def test_no_message_is_in_the_catalogue_twice() -> None:
    # Babel keeps one of two entries with the same msgid silently: the other translation
    # would be lost (a word meaning two things needs two msgids).
    path = Path(i18n.LOCALE_DIR) / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    seen: dict[tuple[str | None, str], int] = {}
    context = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("msgctxt "):
            context = line
        elif line.startswith("msgid ") and line != 'msgid ""':
            key = (context, line)
            assert key not in seen, f"{line} twice: lines {seen[key]} and {number}"
            seen[key] = number
            context = None
