"""punchd: collect punches from attendance terminals into a SQL database."""

__version__ = "0.1.0"
