"""Storage: the database schema, its migrations, engines and every SQL statement punchd runs."""
