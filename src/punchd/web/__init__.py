"""The web console (``punchd web``): sign-in, roles and scopes, the clocks and Collect now,
a home page per role, Chinese and English, and a JSON API under ``/api/v1``.

A front door beside :mod:`punchd.cli`: it calls :mod:`punchd.app` only (never SQL, storage
or drivers). :func:`punchd.web.app.create_app` builds the application.
"""
