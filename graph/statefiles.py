"""Files and folders under the state folder: private to their owner, and clear errors when they
cannot be written.

The state folder holds the event log, the embedded graph, the alerts, the rejects, the ingest's
snapshot state and the Neo4j password; on a shared machine none of it is anyone else's business, so
folders are created 0700 and files 0600 (whatever the umask). A folder that cannot be created or written is a
:class:`StateDirError` whose one-line message says what to do, instead of a traceback.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600


class StateDirError(Exception):
    """A state file or folder cannot be created, read or written; the message says what to do."""


def state_dir_error(path: Path, exc: OSError, doing: str = "write") -> StateDirError:
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        advice = "make the state folder writable by this user"
    else:
        advice = "check the state folder (is it a folder? is the disk full?)"
    return StateDirError(f"cannot {doing} {path}: {reason} - {advice}, or choose another one with --state-dir or CHAINRISK_STATE_DIR")


def ensure_private_dir(path: Path) -> Path:
    """``path`` and its missing parents created with mode 0700 (existing folders are left as they are).
    Raises :class:`StateDirError` when that is not possible."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        for folder in reversed(missing):
            try:
                os.mkdir(folder, DIR_MODE)
            except FileExistsError:
                pass  # another process made it meanwhile
            os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask
        if not path.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(path))
    except OSError as exc:
        raise state_dir_error(path, exc, "create the folder") from None
    return path


def open_private(path: Path, mode: str = "ab", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` creating the file 0600 if it does not exist. Mode ``"w..."`` truncates,
    ``"a..."`` appends; the file's folder must exist."""
    flags = os.O_CREAT | (os.O_WRONLY if "+" not in mode else os.O_RDWR)
    if mode.startswith("w"):
        flags |= os.O_TRUNC
    elif mode.startswith("a"):
        flags |= os.O_APPEND
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise
