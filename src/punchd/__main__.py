"""``python -m punchd`` — the same as the ``punchd`` command."""

from punchd.cli.main import app

app(prog_name="punchd")
