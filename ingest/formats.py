"""Recognising a file's format from its first bytes, and loading small JSON documents, for workers
that accept several formats under one command."""
from __future__ import annotations

import json
from typing import Any

from chainrisk.ingest.common import READ_ERRORS, SourceError, SourceFile

SNIFF_BYTES = 4096


def first_text(src: SourceFile, size: int = SNIFF_BYTES) -> str:
    """Up to ``size`` bytes from the start of the (decompressed) file as text, without consuming them
    (a leading UTF-8 byte-order mark is dropped). Raises :class:`SourceError` for broken compression."""
    stream = src.binary()
    try:
        head = stream.peek(size)[:size]
    except READ_ERRORS as exc:
        raise SourceError(f"{src.path}: broken {src.compression or 'file'}: {exc}") from None
    return head.decode("utf-8", errors="replace").removeprefix("\ufeff")


def looks_like_json(src: SourceFile) -> bool:
    """True when the first non-blank character is ``{`` or ``[``."""
    return first_text(src).lstrip()[:1] in ("{", "[")


def load_json_document(src: SourceFile) -> Any:
    """The whole file parsed as one JSON document. Raises :class:`SourceError` naming the position
    when it does not parse (or for UTF-16/UTF-32 text, see :meth:`SourceFile.read_all`)."""
    raw = src.read_all()
    try:
        return json.loads(raw.decode("utf-8-sig", errors="replace"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{src.path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # a value nested deeper than the decoder's stack: this file fails, the others go on
        raise SourceError(f"{src.path}: not valid JSON: nested too deeply to decode") from None
    except ValueError:  # int(): a number longer than Python converts (4,300 digits)
        raise SourceError(f"{src.path}: not valid JSON: a number with too many digits to decode") from None
