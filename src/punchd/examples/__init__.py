"""The example roster and rules (copies of config/'s), shipped so that ``punchd demo`` also
runs from an installed wheel."""
