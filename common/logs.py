"""How chainrisk's long-running commands log: ``text`` (one readable line per record) or ``json``
(one JSON object per line, for log shippers), chosen by ``--log-format`` / ``CHAINRISK_LOG_FORMAT``.

A JSON line has ``time`` (ISO 8601 UTC, milliseconds), ``level``, ``logger`` and ``message`` (the
formatted text, as the text format prints it), ``exception`` when there is one, and every structured
field the call passed with ``extra=`` (batch ids, offsets, counts: see :data:`FIELDS`), so a log
pipeline filters on ``records`` or ``partition`` without parsing the message.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# the structured fields the code passes with extra=; only these leave the process as fields of their own
FIELDS = ("batch_id", "topic", "partition", "offset", "what", "attempt", "attempts", "records", "applied", "retracted",
          "stale", "duplicate", "dead_lettered", "batches", "events_per_s", "lag", "changes", "seconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's doc)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Log ``level`` and above to stderr in ``log_format`` (replacing any handler the root logger had)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
