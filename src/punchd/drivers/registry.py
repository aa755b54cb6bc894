"""Named drivers: built-ins plus anything registered under the ``punchd.drivers``
entry-point group by a third-party package."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from punchd.drivers.base import Driver

ENTRY_POINT_GROUP = "punchd.drivers"

# Built-ins resolve even when the package is not installed as a distribution
# (e.g. running from a source tree), and win over a third-party name clash.
_BUILTIN = {
    "zk": "punchd.drivers.zk.driver:ZKDriver",
    "anviz": "punchd.drivers.anviz.driver:AnvizDriver",
    "adms": "punchd.drivers.adms.driver:ADMSDriver",
}


class UnknownDriver(LookupError):
    pass


def _load(target: str) -> type[Driver]:
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    cls = getattr(module, attr)
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise TypeError(f"{target} is not a punchd Driver subclass")
    return cls


@cache
def available() -> dict[str, str]:
    """Driver name → import target, built-ins first."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    found.update(_BUILTIN)
    return dict(sorted(found.items()))


def get_driver(name: str) -> type[Driver]:
    try:
        target = available()[name]
    except KeyError:
        known = ", ".join(available()) or "none"
        raise UnknownDriver(f"unknown driver {name!r} (known: {known})") from None
    return _load(target)
