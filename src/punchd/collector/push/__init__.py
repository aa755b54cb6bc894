"""The push receiver: push-mode (ADMS / iclock) clocks send their punches to ``punchd run``
over HTTP (docs/push.md)."""
