"""Read the arrays of a large top-level JSON object one element at a time, in constant memory.

rpki-client's JSON export is ~75 MB with ~700k ROAs in ``"roas": [...]``; ``json.load`` would hold
all of it (several hundred MB of Python objects). :class:`JsonObjectStream` walks the top-level
object key by key with the standard library's decoder (``JSONDecoder.raw_decode``) on a sliding
text buffer, so it accepts any whitespace layout (pretty-printed or one line) and keeps line numbers.

An element that is not valid JSON is reported as a :class:`BadElement` with its line, and reading
resumes at the next line: exports write one element per line, so one broken line costs one element.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# An element (or a non-array value such as "metadata") larger than this is treated as broken
# rather than buffered without bound.
MAX_VALUE_CHARS = 16 << 20

_WHITESPACE = " \t\n\r\ufeff"
_DECODER = json.JSONDecoder()


class JsonLayoutError(ValueError):
    """The document's structure (not one element) is broken: reading cannot go on."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class UndecodableValue(ValueError):
    """A value that is well-formed JSON the decoder still cannot turn into Python objects: nested
    deeper than its recursion limit, or an integer longer than Python converts (4,300 digits).
    Reading can skip it by its brackets (:meth:`JsonObjectStream.skip_value`)."""


@dataclass(frozen=True)
class BadElement:
    """An array element that could not be decoded."""

    line: int
    reason: str
    raw: str


class JsonObjectStream:
    """A cursor over a JSON text arriving in chunks (e.g. :meth:`SourceFile.text_chunks`)."""

    def __init__(self, chunks: Iterable[str]) -> None:
        self._chunks = iter(chunks)
        self._buf = ""
        self._pos = 0
        self._eof = False
        self.line = 1  # the line of the character at the cursor

    # -- buffer -------------------------------------------------------------------------------
    def _fill(self, at_least: int = 1) -> bool:
        """Append at least ``at_least`` more characters (fewer at the end of the text), dropping what
        has been consumed. False when nothing could be added."""
        if self._eof:
            return False
        pieces = [self._buf[self._pos :]]
        added = 0
        while added < at_least:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._eof = True
                break
            pieces.append(chunk)
            added += len(chunk)
        self._buf = "".join(pieces)
        self._pos = 0
        return added > 0

    def _grow(self) -> bool:
        """Double the unread part of the buffer (so a long value costs linear time); False at the
        end of the text or when the unread part already exceeds ``MAX_VALUE_CHARS``."""
        unread = len(self._buf) - self._pos
        return unread <= MAX_VALUE_CHARS and self._fill(max(unread, 1))

    def _advance(self, to: int) -> None:
        self.line += self._buf.count("\n", self._pos, to)
        self._pos = to

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the text), skipping blanks."""
        while True:
            buf, pos, end = self._buf, self._pos, len(self._buf)
            while pos < end and buf[pos] in _WHITESPACE:
                pos += 1
            self._advance(pos)
            if pos < end:
                return buf[pos]
            if not self._fill():
                return ""

    def expect(self, char: str, what: str) -> None:
        found = self.peek()
        if found != char:
            raise JsonLayoutError(self.line, f"expected {char!r} {what}, found {found or 'the end of the file'!r}")
        self._advance(self._pos + 1)

    def value(self) -> Any:
        """Decode the value at the cursor (after :meth:`peek`). Raises ``ValueError`` when it is not
        valid JSON (or longer than ``MAX_VALUE_CHARS``)."""
        while True:
            try:
                decoded, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if _maybe_cut_short(exc, len(self._buf)) and self._grow():
                    continue
                raise ValueError(exc.msg) from None
            except RecursionError:
                raise UndecodableValue("nested too deeply") from None
            except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
                raise UndecodableValue("a number with too many digits") from None
            if end == len(self._buf) and self._grow():
                continue  # a number may go on in the next chunk
            self._advance(end)
            return decoded

    def skip_value(self) -> str:
        """Skip the value at the cursor without decoding it: a container by matching its brackets
        (outside strings), a scalar up to the ``,``, ``]`` or ``}`` after it. How reading gets past
        an :class:`UndecodableValue`, even when the whole document is one line. Returns the start
        of what was skipped (for a reject's raw text)."""
        self.peek()
        container = self._buf[self._pos : self._pos + 1] in ("[", "{")
        depth = 0
        in_string = escaped = False
        start_line, pieces, kept = self.line, [], 0
        while True:
            buf, pos, end = self._buf, self._pos, len(self._buf)
            done = False
            while pos < end:
                char = buf[pos]
                if in_string:
                    if escaped:
                        escaped = False
                    elif char == "\\":
                        escaped = True
                    elif char == '"':
                        in_string = False
                elif char == '"':
                    in_string = True
                elif char in "[{":
                    depth += 1
                elif char in "]}" or (char == "," and depth == 0):
                    if depth == 0:  # the end of a scalar: leave the delimiter for the caller
                        done = True
                        break
                    depth -= 1
                    if depth == 0 and container:
                        pos += 1
                        done = True
                        break
                pos += 1
            if kept < 300:
                piece = buf[self._pos : pos][: 300 - kept]
                pieces.append(piece)
                kept += len(piece)
            self._advance(pos)
            if done:
                return "".join(pieces)
            if not self._fill():
                raise JsonLayoutError(start_line, "the file ends inside a value (truncated?)")

    def rest_of_line(self) -> str:
        """Skip to the start of the next line; return what was skipped (for a reject's raw text)."""
        while True:
            newline = self._buf.find("\n", self._pos)
            if newline >= 0:
                skipped = self._buf[self._pos : newline]
                self._advance(newline + 1)
                return skipped
            if not self._fill():
                skipped = self._buf[self._pos :]
                self._advance(len(self._buf))
                return skipped

    # -- structure ------------------------------------------------------------------------------
    def members(self) -> Iterator[str]:
        """The keys of the top-level object, the cursor left on each key's value; the caller must
        consume that value (:meth:`value` or :meth:`elements`) before asking for the next key."""
        self.expect("{", "at the start of the document")
        if self.peek() == "}":
            self._advance(self._pos + 1)
            return
        while True:
            if self.peek() != '"':
                raise JsonLayoutError(self.line, "expected a quoted key in the top-level object")
            try:
                key = self.value()
            except ValueError as exc:
                raise JsonLayoutError(self.line, f"broken key: {exc}") from None
            self.expect(":", f"after key {key!r}")
            self.peek()
            yield key
            following = self.peek()
            if following == ",":
                self._advance(self._pos + 1)
            elif following == "}":
                self._advance(self._pos + 1)
                return
            else:
                raise JsonLayoutError(self.line, f"expected ',' or '}}' after the value of {key!r}, found {following or 'the end of the file'!r}")

    def read_past(self, key: str) -> None:
        """Read past the value of ``key`` at the cursor (after :meth:`peek`): an array element by
        element (in constant memory), anything else whole. Raises :class:`JsonLayoutError` when it
        is not valid JSON."""
        if self.peek() == "[":
            for _ in self.elements():
                pass
            return
        try:
            self.value()
        except ValueError as exc:
            raise JsonLayoutError(self.line, f"broken value of {key!r}: {exc}") from None

    def elements(self) -> Iterator[tuple[int, Any] | BadElement]:
        """(line, element) for each element of the array at the cursor, or :class:`BadElement`.
        After a bad element, reading resumes with the next line."""
        self.expect("[", "to open an array")
        while True:
            char = self.peek()
            if char == "]":
                self._advance(self._pos + 1)
                return
            if char == "":
                raise JsonLayoutError(self.line, "the file ends inside an array (truncated?)")
            if char == ",":  # a bad element was skipped up to its trailing comma's line
                self._advance(self._pos + 1)
                continue
            line = self.line
            try:
                element = self.value()
            except UndecodableValue as exc:  # well-formed: skip exactly this element
                yield BadElement(line, f"invalid JSON: {exc}", self.skip_value())
            except ValueError as exc:
                yield BadElement(line, f"invalid JSON: {exc}", self.rest_of_line())
                continue
            else:
                yield line, element
            after = self.peek()
            if after == ",":
                self._advance(self._pos + 1)
            elif after != "]":
                found = after or "the end of the file"
                yield BadElement(self.line, f"invalid JSON: expected ',' or ']' after an element, found {found!r}", self.rest_of_line())


def _maybe_cut_short(error: json.JSONDecodeError, buffered: int) -> bool:
    """Whether a decode error may only mean the buffer ends inside the value: the decoder stopped
    at (or just before: a literal such as ``tru``) the end of the buffer, or inside a string (a
    complete line cannot hold an unterminated string: a raw newline is an error of its own)."""
    return error.pos >= buffered - 16 or error.msg.startswith("Unterminated string")
