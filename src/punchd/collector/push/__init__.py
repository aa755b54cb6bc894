"""The push receiver: push-mode (ADMS / iclock) clocks send their punches to ``punchd run``
over HTTP (docs/push.md)."""

#: the driver name of push clocks in ``[[devices]]`` (here, not in ``service``: `punchd status`
#: asks it without loading the receiver)
DRIVER = "adms"
