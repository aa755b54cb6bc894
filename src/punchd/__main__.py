"""``python -m punchd`` — the same as the ``punchd`` command."""

from punchd.collector.cli import app

app(prog_name="punchd")
