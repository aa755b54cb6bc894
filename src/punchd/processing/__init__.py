"""Attendance processing engine (pure functions over plain data)."""
