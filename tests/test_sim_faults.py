"""The fault-spec grammar shared by the ZK and Anviz simulators."""

from __future__ import annotations

import pytest

from punchd.drivers.anviz import simulator as anviz
from punchd.drivers.testing.faults import Fault, FaultKind, FaultTable, Param, split_spec
from punchd.drivers.zk import simulator as zk

TABLE = FaultTable(
    "test",
    [
        FaultKind("cut", (Param("FRACTION", 0.5, high=1), Param("TIMES", None, low=1, whole=True))),
        FaultKind("hush"),
    ],
)


def test_values_are_positional_and_empty_means_default() -> None:
    assert split_spec(" Cut:0.2:3 ") == ("cut", ["0.2", "3"])
    assert TABLE.parse("cut") == Fault("cut", 0.5)
    assert TABLE.parse("cut::2") == Fault("cut", 0.5, 2)
    assert TABLE.parse("cut:0.25:") == Fault("cut", 0.25, None)
    assert TABLE.parse("CUT:1:2.0").args == (1.0, 2)
    assert TABLE.parse("hush") == Fault("hush", None, None) == Fault("hush")


def test_str_prints_back_what_was_written() -> None:
    assert str(TABLE.parse("cut")) == "cut"
    assert str(TABLE.parse("cut:0.3")) == "cut:0.3"
    assert str(TABLE.parse("cut::4")) == "cut:0.5:4"
    assert TABLE.parse(TABLE.parse("cut:0.3")) == Fault("cut", 0.3)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("melt", "unknown fault 'melt' for the test simulator; expected one of cut, hush"),
        ("hush:1", "too many arguments in fault 'hush:1' for the test simulator; expected hush"),
        ("cut:1:2:3", "expected cut[:FRACTION[:TIMES]]"),
        ("cut:x", "bad number in fault 'cut:x'"),
        ("cut:1.5", "bad value 1.5 for FRACTION in fault 'cut:1.5': cut needs a number within"),
        ("cut:0.5:0", "TIMES in fault 'cut:0.5:0': cut needs a whole number >= 1"),
        ("cut:0.5:1.5", "TIMES"),
        ("cut:nan", "FRACTION"),
    ],
)
def test_refusals_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        TABLE.parse(spec)
    assert message in str(caught.value)


def test_each_simulator_refuses_the_others_faults() -> None:
    with pytest.raises(ValueError, match="unknown fault 'crc' for the zk simulator"):
        zk.parse_fault("crc")
    with pytest.raises(ValueError, match="unknown fault 'busy' for the anviz simulator"):
        anviz.parse_fault("busy")
    with pytest.raises(ValueError, match="'drop' for the anviz simulator"):
        anviz.AnvizSimulator(ids=[1], faults=["drop"])
    # one kind name, two meanings: ZK splits chunks in BYTES, Anviz answers with a DELAY
    assert zk.parse_fault("split") == Fault("split", 1024)
    assert anviz.parse_fault("split") == Fault("split", 0.002)


def test_anviz_defaults_and_the_banner_text() -> None:
    faults = [anviz.parse_fault(s) for s in ("garbage", "crc:4", "dup:2:1", "arrive")]
    assert [f.args for f in faults] == [(24,), (4,), (2, 1), (3, 1)]
    assert ",".join(map(str, faults)) == "garbage,crc:4,dup:2:1,arrive"
