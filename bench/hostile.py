"""Hostile-device benchmark: a real ``punchd collect`` against each attack of a lying ZK
terminal (tests/hostile_zk.py), measured from outside.

    .venv/bin/python bench/hostile.py [--max-run-seconds 10] [--punches 3000] [--only ATTACK]

For every attack, over TCP and UDP, it starts the hostile terminal on loopback in this
process, runs ``python -m punchd collect`` as a subprocess into a fresh SQLite database and
prints the subprocess's peak RSS (``wait4`` rusage) and wall time, with the outcome from its
JSON log. Targets: peak RSS <= 150 MB and wall time <= max_run_seconds + 5 s per attack.
Then the same for an Anviz clock (the Anviz simulator's fault modes) on a pty and over TCP.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_zk import HostileZK, raw_record, raw_time  # noqa: E402

from punchd.drivers.anviz.simulator import AnvizSimulator  # noqa: E402
from punchd.drivers.zk.simulator import generate  # noqa: E402

RSS_TARGET_MB = 150.0
#: (name, HostileZK attack, extra keyword arguments)
ATTACKS: list[tuple[str, str | None, dict]] = [
    ("none (baseline)", None, {}),
    ("announce 2^31 bytes", "announce-huge", {}),
    ("claim 53M records", "count-huge", {}),
    ("drip 1 piece / 0.5 s", "drip", {"drip_every": 0.5}),
    ("endless data flood", "flood", {}),
    ("garbage replies", "garbage", {}),
    ("count implies other size", "wrong-count", {"record_size": 16}),
    (
        "impossible dates",
        None,
        {
            "extra_records": [
                raw_record(40, "100001", 2, raw_time(2026, 2, 31)),
                raw_record(40, "100002", 3, raw_time(2000, 1, 1)),
                raw_record(40, "100003", 4, raw_time(2133, 1, 1)),
            ]
        },
    ),
]


#: (name, AnvizSimulator faults) for a TC_B clock; each answer of "bad CRC, slow" takes
#: 4 s (within the 5 s timeout) and always fails its CRC, so it is asked for again
ANVIZ_ATTACKS: list[tuple[str, list[str]]] = [
    ("anviz: none (baseline)", []),
    ("anviz: drip 1 byte / 0.5 s", ["drip:0.5"]),
    ("anviz: endless noise", ["noise:3600"]),
    ("anviz: bad CRC, slow", ["crc:1", "drip:0.15"]),
]


def run_once(
    workdir: Path, sim: HostileZK | None, max_run: float, timeout: float, device: str = ""
) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MB, exit code, outcome) of one ``punchd collect`` (of ``device``,
    TOML keys, when given; else of ``sim``)."""
    config = workdir / "punchd.toml"
    assert sim is not None or device
    given = f"[[devices]]\nname = 'hostile'\n{device}"
    given += f"timeout = {timeout}\nmax_run_seconds = {max_run}\n"
    config.write_text(
        given
        if device
        else "[[devices]]\n"
        'name = "hostile"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        f'port = {sim.port}\nprotocol = "{"udp" if sim.udp else "tcp"}"\n'
        f"timeout = {timeout}\nmax_run_seconds = {max_run}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(
        XDG_DATA_HOME=str(workdir / "data"),
        PUNCHD_CONFIG=str(config),
        PUNCHD_DATABASE_URL=f"sqlite:///{workdir / 'punchd.db'}",
        PYTHONPATH=str(ROOT / "src"),
        NO_COLOR="1",
    )
    err_path = workdir / "stderr.log"
    with open(os.devnull, "wb") as out, open(err_path, "wb") as err:
        started = time.monotonic()
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "punchd", "collect", "--wait", "0"],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
            ],
        )
        _pid, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    outcome = "?"
    for line in err_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "collection":
                outcome = event.get("error_kind") or event.get("status", "?")
                if event.get("status") == "ok":
                    outcome = f"ok, {event.get('records_new')} new"
    return wall, usage.ru_maxrss / 1024, code, outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-run-seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=5.0, help="per-read timeout")
    parser.add_argument("--punches", type=int, default=3000)
    parser.add_argument("--only", help="run only attacks whose name contains this")
    args = parser.parse_args()
    users, punches = generate(users=60, punches=args.punches, seed=5)
    print(
        f"punchd collect vs a hostile ZK terminal: {args.punches} punches, "
        f"max_run_seconds={args.max_run_seconds:g}, timeout={args.timeout:g}"
    )
    header = (
        f"{'attack':<26} {'via':<4} {'outcome':<18} {'exit':>4} {'wall s':>7} {'RSS MB':>7}  ok"
    )
    print(header)
    print("-" * len(header))
    failures = 0
    for name, attack, extra in ATTACKS:
        if args.only and args.only not in name and args.only != attack:
            continue
        for udp in (False, True):
            with (
                tempfile.TemporaryDirectory(prefix="punchd-hostile-") as tmp,
                HostileZK(attack, port=0, udp=udp, users=users, punches=punches, **extra) as sim,
            ):
                wall, rss, code, outcome = run_once(
                    Path(tmp), sim, args.max_run_seconds, args.timeout
                )
            within = rss <= RSS_TARGET_MB and wall <= args.max_run_seconds + 5
            failures += not within
            print(
                f"{name:<26} {'udp' if udp else 'tcp':<4} {outcome:<18} {code:>4} "
                f"{wall:>7.2f} {rss:>7.1f}  {'yes' if within else 'NO'}",
                flush=True,
            )
    for name, faults in ANVIZ_ATTACKS:
        if args.only and args.only not in name:
            continue
        for via in ("pty", "tcp"):
            with (
                tempfile.TemporaryDirectory(prefix="punchd-hostile-") as tmp,
                AnvizSimulator([1], args.punches, faults=faults) as clock,
            ):
                where = (
                    f'port = "{clock.open_pty()}"\n'
                    if via == "pty"
                    else f'host = "127.0.0.1"\ntcp_port = {clock.listen_tcp()}\n'
                )
                device = f'driver = "anviz"\ndevice_id = 1\n{where}'
                wall, rss, code, outcome = run_once(
                    Path(tmp), None, args.max_run_seconds, args.timeout, device
                )
            within = rss <= RSS_TARGET_MB and wall <= args.max_run_seconds + 5
            failures += not within
            print(
                f"{name:<26} {via:<4} {outcome:<18} {code:>4} "
                f"{wall:>7.2f} {rss:>7.1f}  {'yes' if within else 'NO'}",
                flush=True,
            )
    print(f"targets: RSS <= {RSS_TARGET_MB:g} MB, wall <= max_run_seconds + 5 s")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
