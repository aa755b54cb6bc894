"""The `punchd` command line: a thin shell (parse, call, print) over the application."""
