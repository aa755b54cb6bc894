"""Drivers for tests: devices that live in this process's memory instead of on a network.

``driver = "memory"`` (:mod:`punchd.drivers.testing.memory`) lets a test run the real
collector, database and spool against a device it fills and breaks in-process, the way
python-can's virtual bus stands in for a CAN interface.
"""
