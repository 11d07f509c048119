"""The ingest's snapshot state files (ingest/snapshot_state.py) under ``<state_dir>/snapshots/``:
read, compared, and replaced atomically, private to their owner like the rest of the state folder."""
from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

from chainrisk.graph.statefiles import ensure_private_dir, open_private, state_dir_error
from chainrisk.ingest.snapshot_state import FIRST, NEWER, Outcome, Previous, compare, decode, encode, packed


class SnapshotLedger:
    """The state files of one event log (``log``: :func:`chainrisk.graph.backend.event_log_name`, so
    a state folder that feeds two logs keeps their snapshots apart) in ``folder``. ``write=False``
    (a dry run) compares but records nothing."""

    def __init__(self, folder: Path, log: str, *, write: bool = True) -> None:
        self.folder = Path(folder)
        self.log = log
        self.write = write
        self.warnings: list[str] = []

    def path(self, fact_type: str, scope: str) -> Path:
        name = hashlib.sha256(f"{self.log}|{fact_type}|{scope}".encode()).hexdigest()[:32]
        return self.folder / name

    def previous(self, fact_type: str, scope: str) -> Previous | None:
        """The scope's recorded snapshot; None when there is none, or when the file is not a state file
        of this log and scope (a warning says so; the next complete snapshot replaces it)."""
        path = self.path(fact_type, scope)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise state_dir_error(path, exc, "read") from None
        previous = decode(data, self.log, fact_type, scope)
        if previous is None:
            self.warnings.append(f"warning: {path}: not a snapshot state file of this event log and scope: ignored "
                                 "(the next complete snapshot of the scope replaces it)")
        return previous

    def settle(self, fact_type: str, scope: str, snapshot: str, observed_at: datetime, reference: str,
               fingerprints: list[int]) -> Outcome:
        pairs = packed(fingerprints)
        outcome = compare(self.previous(fact_type, scope), observed_at, pairs)
        if self.write and outcome.relation in (FIRST, NEWER):
            self._save(self.path(fact_type, scope), encode(self.log, fact_type, scope, snapshot, observed_at, reference, pairs))
        return outcome

    def _save(self, path: Path, data: bytes) -> None:
        ensure_private_dir(self.folder)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open_private(temporary, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, path)  # a reader sees the old file or the new one, never a part of either
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise state_dir_error(path, exc) from None
