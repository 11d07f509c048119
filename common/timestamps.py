"""Timestamps as the event contract keeps them: timezone-aware, in UTC."""
from __future__ import annotations

from datetime import datetime, timezone


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC timestamp: a naive one is taken to be UTC already, an aware one
    in another zone is converted (the same instant, written in UTC, so its ISO text - part of
    every event id - is the same whatever zone a source wrote it in)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
