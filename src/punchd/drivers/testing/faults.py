"""The one fault-spec grammar of the device simulators (ZK and Anviz).

A fault spec is text, as given to ``--fault`` or ``faults=[...]``::

    SPEC  = KIND [":" VALUE [":" VALUE]]
    KIND  = a fault name: letters and "-", case-insensitive, surrounding blanks ignored
    VALUE = a decimal number, or nothing (= that parameter's default)

The values are the kind's parameters in order; a parameter left out (or left empty, as in
``drop::2``) takes its default. Each simulator declares the kinds it supports in a
``FaultTable`` (name, parameters, their defaults and ranges) and parses with it: a kind it
does not have is refused with an error naming the kind and the simulator, as is a value out
of range. The result is a ``Fault`` whose ``args`` hold every parameter, defaults filled in
(``None``: the parameter has no value, e.g. "every time"). What a fault *does* is up to the
simulator that runs it (docs/zk.md, docs/anviz.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Fault", "FaultKind", "FaultTable", "Param", "split_spec"]


@dataclass(frozen=True, init=False)
class Fault:
    """One fault: its kind and its parameters in order.

    ``Fault("drop", 0.5, None)`` == ``Fault("drop", 0.5)``: trailing ``None`` (no value)
    carry nothing. ``given`` is how many of the values the spec wrote (the rest are
    defaults); ``str()`` prints the spec back with just those.
    """

    kind: str
    args: tuple[float | None, ...]
    given: int = field(compare=False, repr=False)

    def __init__(self, kind: str, *args: float | None, given: int | None = None) -> None:
        values = list(args)
        while values and values[-1] is None:
            values.pop()
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "args", tuple(values))
        object.__setattr__(self, "given", len(values) if given is None else given)

    def arg(self, i: int = 0) -> float | None:
        """The ``i``-th parameter (``None``: it has no value)."""
        return self.args[i] if i < len(self.args) else None

    def __str__(self) -> str:
        shown = self.args[: self.given]
        return ":".join([self.kind, *("" if a is None else f"{a:g}" for a in shown)])


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind: its name in the docs, default and allowed range."""

    name: str
    default: float | None = None  # None: no value unless given
    low: float = 0.0
    high: float = math.inf
    whole: bool = False  # a whole number (returned as int)
    above_low: bool = False  # ``low`` itself is not allowed

    def rule(self) -> str:
        if self.whole and (self.low, self.high) == (0, 1):
            return "0 or 1"
        what = "a whole number" if self.whole else "a number"
        low = f"> {self.low:g}" if self.above_low else f">= {self.low:g}"
        if self.high == math.inf:
            return f"{what} {low}"
        if not self.above_low:
            return f"{what} within {self.low:g}..{self.high:g}"
        return f"{what} {low} and <= {self.high:g}"

    def accepts(self, value: float) -> bool:
        if self.whole and not float(value).is_integer():
            return False
        above = value > self.low if self.above_low else value >= self.low
        return above and value <= self.high


@dataclass(frozen=True)
class FaultKind:
    """A fault a simulator can inject, and its parameters in spec order."""

    name: str
    params: tuple[Param, ...] = ()

    def usage(self) -> str:
        """``drop[:FRACTION[:TIMES]]``"""
        tail = "".join(f"[:{p.name}" for p in self.params) + "]" * len(self.params)
        return self.name + tail


def split_spec(spec: str) -> tuple[str, list[str]]:
    """``(kind, raw values)`` of a spec: the grammar without any simulator's vocabulary."""
    kind, *values = spec.strip().lower().split(":")
    return kind, values


class FaultTable:
    """The fault kinds one simulator supports; ``parse`` turns a spec into a ``Fault``."""

    def __init__(self, simulator: str, kinds: Iterable[FaultKind]) -> None:
        self.simulator = simulator
        self.kinds: dict[str, FaultKind] = {k.name: k for k in kinds}

    def _kind(self, name: str) -> FaultKind:
        kind = self.kinds.get(name)
        if kind is None:
            raise ValueError(
                f"unknown fault {name!r} for the {self.simulator} simulator; "
                f"expected one of {', '.join(self.kinds)}"
            )
        return kind

    def _too_many(self, spec: str, kind: FaultKind) -> ValueError:
        return ValueError(
            f"too many arguments in fault {spec!r} for the {self.simulator} simulator; "
            f"expected {kind.usage()}"
        )

    def parse(self, spec: str | Fault) -> Fault:
        """A ``Fault`` of this simulator from a spec (or a ``Fault``, checked and completed
        with defaults); ``ValueError`` naming the problem otherwise."""
        if isinstance(spec, Fault):
            kind = self._kind(spec.kind)
            given, raw, text = spec.given, list(spec.args), str(spec)
        else:
            name, values = split_spec(spec)
            kind = self._kind(name)
            text = spec
            if len(values) > len(kind.params):
                raise self._too_many(spec, kind)
            try:
                raw = [float(v) if v.strip() else None for v in values]
            except ValueError:
                raise ValueError(f"bad number in fault {spec!r}") from None
            # values written, up to the last one not left empty
            given = max((i + 1 for i, v in enumerate(raw) if v is not None), default=0)
        args: list[float | None] = []
        for i, param in enumerate(kind.params):
            value = raw[i] if i < len(raw) and raw[i] is not None else param.default
            if value is not None:
                if not param.accepts(value):
                    raise ValueError(
                        f"bad value {value:g} for {param.name} in fault {text!r}: "
                        f"{kind.name} needs {param.rule()}"
                    )
                value = int(value) if param.whole else value
            args.append(value)
        if len(raw) > len(kind.params):
            raise self._too_many(text, kind)
        return Fault(kind.name, *args, given=given)
