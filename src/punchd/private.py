"""Files punchd creates are private: directories 0700, files 0600, whatever the umask.

Punches, names and payroll reports are personal data; a desktop umask of 022 would make
them readable by every local user. (The systemd unit's ``UMask=`` only covers the service,
not ``punchd report`` or ``punchd collect`` run by hand.) Existing files and directories
keep the mode their owner gave them, except a file punchd rewrites completely (a report).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_dirs(path: Path) -> None:
    """Create ``path`` and any missing parent, each 0700 (an existing one is left alone)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process was quicker
            directory.mkdir(mode=DIR_MODE)
            # mkdir's mode is masked by the umask; chmod is not.
            os.chmod(directory, DIR_MODE)


def create_file(path: Path) -> bool:
    """Create ``path`` empty and 0600 unless it exists; True when it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True


def open_new(path: Path) -> int:
    """A file descriptor for writing ``path``, created (or truncated) with mode 0600.

    Only a regular file is made private (``--output /dev/stdout`` must not chmod a
    terminal), and only if it is ours to chmod.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            with contextlib.suppress(PermissionError):
                os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (replacing what was there), readable by its owner only."""
    with os.fdopen(open_new(path), "wb") as fh:
        fh.write(data)


__all__ = ["DIR_MODE", "FILE_MODE", "create_file", "make_dirs", "open_new", "write_file"]
