"""Enrolment benchmark: a roster of N people onto an empty simulated ZK clock.

    .venv/bin/python bench/enrol.py [--people 3000] [--udp]

The ZK simulator runs as a process of its own (``punchd simulate zk``, the device) on
loopback; this process imports a roster of N employees (one card each for a third of them)
into an empty SQLite database and runs ``enrol_apply`` (the same function as ``punchd enrol
apply``): read the clock's users, plan, write N users, refresh. Then it runs it again (the
idempotent second run: read and plan only). Prints the time of each, the round trips (one
per command), and the target (one clock filled in <= 60 s).

With templates (the default; ``--no-templates`` leaves them out) every employee has one
stored fingerprint template (1,200 bytes, encrypted in the database, as learnt from another
clock): the apply refills the empty clock with users and templates, as for a replaced clock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

TARGET_S = 60.0
DAY = date(2026, 3, 10)


def start_device(udp: bool) -> tuple[subprocess.Popen[str], int]:
    """``punchd simulate zk`` on a free port, with no users and no punches."""
    args = [sys.executable, "-m", "punchd", "simulate", "zk", "--port", "0", "--users", "0"]
    args += ["--punches", "0", *(["--udp"] if udp else [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    address = line.split(" listening on ", 1)[1].split()[0]
    return proc, int(address.rsplit(":", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--udp", action="store_true")
    parser.add_argument("--no-templates", dest="templates", action="store_false")
    opts = parser.parse_args()

    from punchd.app import Actor, Site, people
    from punchd.app.enrolment import enrol_apply
    from punchd.config import load_settings
    from punchd.storage import templates as template_store
    from punchd.storage.database import make_engine, upgrade

    device, port = start_device(opts.udp)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            url = f"sqlite:///{root / 'punchd.db'}"
            key = template_store.new_key()
            engine = make_engine(url)
            upgrade(engine)
            settings = load_settings(
                None,
                data_dir=root / "data",
                timezone="Asia/Shanghai",
                devices=[
                    {
                        "name": "bench",
                        "driver": "zk",
                        "host": "127.0.0.1",
                        "port": port,
                        "protocol": "udp" if opts.udp else "tcp",
                        "timeout": 10,
                        "enrol": "all",
                    }
                ],
                enrolment={"template_key": key} if opts.templates else {},
            )
            site = Site(settings, engine)
            roster = root / "roster.csv"
            lines = ["employee_no,name,department,department_name,enroll_no,card_no,hire_date,"]
            lines[0] += "separation_date"
            for i in range(1, opts.people + 1):
                card = str(10_000_000 + i) if i % 3 == 0 else ""
                lines.append(f"E{i:05d},Person {i},D{i % 20},,{100000 + i},{card},2024-01-01,")
            roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
            actor = Actor("bench")
            people.import_roster(site, people.read_roster_file(settings, roster), actor=actor)
            if opts.templates:  # one finger each, as learnt from the clock this one replaces
                cipher = template_store.TemplateCipher(key)
                with engine.begin() as conn:
                    ids = template_store.employee_ids(conn)
                    template_store.save(
                        conn,
                        cipher,
                        {
                            i: {6: (bytes((i + n) % 256 for n in range(1200)), "10", 1, "old")}
                            for i in ids.values()
                        },
                    )

            t = time.perf_counter()
            first = enrol_apply(site, actor=actor, today=DAY).devices[0]
            fill = time.perf_counter() - t
            t = time.perf_counter()
            second = enrol_apply(site, actor=actor, today=DAY).devices[0]
            again = time.perf_counter() - t
    finally:
        device.terminate()
        device.wait(10)

    copied = len(first.templates_done)
    if first.error or first.failures or len(first.done) != opts.people:
        print(f"FAILED: {first.error or first.failures[:3]} ({len(first.done)} done)")
        return 1
    if opts.templates and (first.template_failures or copied != opts.people):
        print(f"FAILED: templates {first.template_failures[:3]} ({copied} copied)")
        return 1
    transport = "udp" if opts.udp else "tcp"
    fingers = f", {copied} fingerprint templates" if opts.templates else ""
    print(
        f"enrol {opts.people} users{fingers} onto an empty simulated ZK clock "
        f"({transport}, loopback)"
    )
    print(
        f"  apply:        {fill:7.2f} s  {first.commands:6d} round trips  "
        f"({fill / max(first.commands, 1) * 1000:.2f} ms each)  target <= {TARGET_S:.0f} s: "
        f"{'met' if fill <= TARGET_S else 'MISSED'}"
    )
    print(
        f"  second apply: {again:7.2f} s  {second.commands:6d} round trips  "
        f"({len(second.done)} changes: idempotent)"
    )
    return 0 if fill <= TARGET_S and not second.done and not second.templates_done else 1


if __name__ == "__main__":
    sys.exit(main())
