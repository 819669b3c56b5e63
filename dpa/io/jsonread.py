"""Incremental JSON reading: DPA 0.2.1's files and JSON Lines, in bounded memory.

:class:`_JsonText` is a sliding window over a text file from which values are
decoded one at a time (runs of records at once where it can); on top of it,
:func:`dpa_json_events` and :func:`jsonl_events` turn a DPA document (or a
bare array of records) and a JSON Lines file into events, and
:func:`detect_format` tells the two apart from the first key.  Every error is
an :class:`InputError` naming the file and the line and column, including
nesting deeper than the interpreter's stack and integers longer than Python
converts (which ``json`` raises as ``RecursionError`` and ``ValueError``).
:func:`read_json_file` reads the small files dpa writes (sidecars, journals)
whole, bounded and with the same care.

Why dpa's own reader and not a streaming parser (issue 14 asked whether ijson
with its yajl2 C backend should replace it).  Measured with
``tools/compare_json_parsers.py`` (ijson 3.6.0; each conversion in a process
of its own; medians of 3 interleaved rounds; the shared 2-vCPU development
VM, whose load moved a lot between runs, so only ratios within a run count):

* floats: both give back all of 2,000,000 doubles bit for bit (random bit
  patterns, subnormals, extremes, DPA-like values);
* memory: both bounded, peak RSS 71.3 MB with ijson, 73.0 MB with this reader
  (1,000,000 records, 281 MB indented) and 73.2 MB (2 GB on one line);
* rate: a replacement must also read the ``statistics`` block after the
  records, which ijson's ``items`` gives only by a second pass: that measured
  0.91 of this reader's rate on the 281 MB file (0.83 in an earlier run) and
  0.51 on the 2 GB line.  ijson reading the records alone, which is not a
  replacement, measured 0.86 and 0.94 (earlier, non-interleaved runs: 1.29
  and 1.41, and 0.47 and 1.77);
* nesting (``--nesting``): an array nested 10,000 deep took ijson's ``items``
  255 MB, 30,000 deep 2.2 GB, and 100,000 deep (an input the issue lists) got
  the process killed for memory; here it is an error naming the position.

With no gain to show, the rest decides: ijson would be a third, compiled,
runtime dependency (its pure-Python backend, where the C one cannot load, is
far slower), and its ``items`` API reports an error with neither a line nor a
column nor the key it was in, where every message here names all three (and
the line of a JSON Lines record).  So the hand-written reader stays; it is
small (the window, one bulk decode of runs of records through ``json``'s C
decoder, and item-by-item decoding to place an error).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InputError, open_input

__all__ = ["JSON_BATCH", "LAYOUTS", "detect_format", "dpa_json_events", "json_problem",
           "jsonl_events", "not_utf8", "open_text", "parse_json", "read_json_file"]

#: What ``convert`` reads, for the message about a file in another layout.
LAYOUTS = ("convert reads DPA 0.2.1's save_augmentation_chain and save_augmentation_stream files "
           "(an object with 'metadata' and 'augmentations'), a JSON array of record objects, "
           "or JSON Lines (one record object per line)")

#: The top-level keys of DPA's files.
DPA_KEYS = ("metadata", "augmentations", "statistics")

#: Records converted from JSON at a time.
JSON_BATCH = 1 << 14

#: Characters of JSON text read at a time.
_JSON_CHUNK = 1 << 20

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def json_problem(exc: BaseException) -> str:
    """What is wrong with a JSON text, from the error ``json`` raised on it.

    ``json`` raises ``RecursionError`` for values nested deeper than the
    interpreter's stack and a plain ``ValueError`` for an integer of more
    digits than Python converts (4,300 by default); both are described in
    words, as is a ``JSONDecodeError``.
    """
    if isinstance(exc, RecursionError):
        return "values nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    text = str(exc)
    if "digits" in text and "integer" in text:
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
        return f"an integer longer than {limit:,} digits"
    return text.split(";")[0]


def parse_json(text: str, where: str) -> Any:
    """``json.loads(text)``; :class:`InputError` ``"WHERE: not valid JSON (...)"``."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        where_in = ""
        if isinstance(exc, json.JSONDecodeError):
            where_in = f" at line {exc.lineno}, column {exc.colno}"
        raise InputError(f"{where}: not valid JSON{where_in} ({json_problem(exc)})") from None


def read_json_file(path: Path, what: str, limit: int = 64 << 20) -> Any:
    """The JSON value of a small file dpa wrote (a sidecar, a journal), read
    whole: :class:`InputError` naming the file for one that is missing
    (``FileNotFoundError`` is let through), unreadable, larger than ``limit``
    bytes, not UTF-8 or not valid JSON."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit:,} bytes: not a {what}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text: not a {what}") from None
    return parse_json(text, f"{path}: {what}")


def not_utf8(path: Path, exc: UnicodeDecodeError | None = None) -> InputError:
    """The error for an input that is not UTF-8 text, saying what it looks like."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        head = b""
    if head.startswith(b"\x93NUMPY"):
        what = "a .npy file, not JSON (dpa head and dpa stats read .npy files)"
    elif head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        what = "UTF-16 text; convert reads UTF-8 (re-encode it, e.g. iconv -f UTF-16 -t UTF-8)"
    elif exc is not None and isinstance(exc.object, (bytes, bytearray)):
        what = f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} cannot start or continue a character)"
    else:
        what = "not UTF-8 text"
    return InputError(f"{path}: {what}")


def open_text(path: Path, newline: str | None = None) -> IO[str]:
    """A UTF-8 text file (with or without a byte-order mark) open for reading."""
    return open_input(path, "is a directory", encoding="utf-8-sig", newline=newline)


class _JsonText:
    """A sliding window over a JSON text file: values are decoded one at a time.

    Only the current window (``chunk`` characters, more while a single value
    straddles its end, at most ``max_value`` characters for one value) is in
    memory.  Positions for messages are absolute (line, column).
    """

    def __init__(self, f, path: Path, chunk: int | None = None, max_value: int = 64 << 20) -> None:
        self.f = f
        self.path = path
        self.chunk = _JSON_CHUNK if chunk is None else chunk
        self.max_value = max_value
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # line of buf[0]
        self.col0 = 0  # column (0-based) of buf[0]
        self.dropped = 0  # characters before buf[0]

    def _more(self, want: int | None = None) -> bool:
        """Read another chunk (dropping what was consumed); False at end of file."""
        if self.eof:
            return False
        if self.pos:
            self.dropped += self.pos
            dropped = self.buf[: self.pos]
            nl = dropped.count("\n")
            if nl:
                self.line += nl
                self.col0 = len(dropped) - dropped.rfind("\n") - 1
            else:
                self.col0 += len(dropped)
            self.buf = self.buf[self.pos:]
            self.pos = 0
        try:
            text = self.f.read(max(self.chunk, want or 0))
        except UnicodeDecodeError as exc:
            raise not_utf8(self.path, exc) from None
        if not text:
            self.eof = True
            return False
        self.buf += text
        return True

    def where(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        nl = self.buf.rfind("\n", 0, pos)
        if nl < 0:
            return f"line {self.line}, column {self.col0 + pos + 1}"
        return f"line {self.line + self.buf.count(chr(10), 0, pos)}, column {pos - nl}"

    def peek(self) -> str | None:
        """Skip whitespace; the next character, or None at end of file."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return None

    def expect(self, chars: str, context: str) -> str:
        c = self.peek()
        if c is None:
            raise InputError(f"{self.path}: truncated JSON: the file ends {context}")
        if c not in chars:
            want = " or ".join(repr(x) for x in chars)
            raise InputError(f"{self.path}: invalid JSON at {self.where()}: expected {want} "
                             f"{context}, found {c!r}")
        self.pos += 1
        return c

    def value(self, context: str) -> Any:
        """Decode the JSON value at the current position."""
        if self.peek() is None:
            raise InputError(f"{self.path}: truncated JSON: the file ends {context}")
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # An error in the last few characters may only mean the value goes on
                # in the next chunk; read on before judging.
                near_end = exc.pos >= len(self.buf) - 64 or exc.msg.startswith("Unterminated")
                if near_end and not self.eof and len(self.buf) - self.pos < self.max_value:
                    self._more(len(self.buf) - self.pos)
                    continue
                if near_end and self.eof:
                    raise InputError(f"{self.path}: truncated JSON: the file ends {context} "
                                     f"({self.where(exc.pos)})") from None
                raise InputError(f"{self.path}: invalid JSON at {self.where(exc.pos)}: {exc.msg} "
                                 f"({context})") from None
            except (ValueError, RecursionError) as exc:  # nesting, integers of too many digits
                raise InputError(f"{self.path}: invalid JSON at {self.where()}: "
                                 f"{json_problem(exc)} ({context})") from None
            # A number at the very end of the window may continue in the next chunk.
            if end >= len(self.buf) and not self.eof and not isinstance(value, (dict, list, str)):
                if self._more():
                    continue
            self.pos = end
            return value

    def _members(self, close: str, ended: str, between: str, sep: str = ",") -> Iterator[None]:
        """After an opening bracket: stop before each member (past its comma)
        until ``close``, which is consumed.  ``ended`` and ``between`` word the
        errors of a file that ends and of a missing comma (``sep`` expected)."""
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise InputError(f"{self.path}: truncated JSON: {ended}")
            if c == close:
                self.pos += 1
                return
            if not first:
                self.expect(sep, between)
            first = False
            yield

    def object_keys(self, start: str, kind: str = "") -> Iterator[str]:
        """The keys of the top-level object that starts here (``start`` says
        where, for messages); after each key the caller decodes its value.
        ``kind`` names the keys in messages (``"top-level "``)."""
        self.expect("{", start)
        for _ in self._members("}", "the top-level object is not closed", f"between {kind}keys"):
            if self.peek() not in ('"', None):
                raise InputError(f"{self.path}: invalid JSON at {self.where()}: expected a key")
            key = self.value(f"at a {kind}key")
            self.expect(":", f"after the key {key!r}")
            yield key

    def array_items(self, context: str) -> Iterator[list]:
        """After ``[``: yield the array's items in lists (many at a time where possible).

        Whole runs of items are decoded with one ``json.loads`` call: the
        window is cut after the last ``}`` that a comma follows, and the run
        is parsed as an array.  If the cut fell inside a string or a nested
        value, parsing fails and the run is decoded item by item instead,
        which also pinpoints any error.
        """
        slow_until = -1  # absolute offset up to which items go one by one
        for _ in self._members("]", f"the file ends inside {context}", f"in {context}", ",]"):
            if self.dropped + self.pos >= slow_until:
                items = self._bulk()
                if items is not None:
                    yield items
                    continue
                slow_until = self.dropped + self.pos + self.chunk
            yield [self.value(f"inside {context}")]

    def _bulk(self) -> list | None:
        if len(self.buf) - self.pos < self.chunk // 2 and not self.eof:
            self._more()
        end = len(self.buf)
        k = end
        for _ in range(64):
            k = self.buf.rfind(",", self.pos, k)
            if k <= self.pos:
                return None
            j = k - 1
            while j > self.pos and self.buf[j] in " \t\r\n":
                j -= 1
            if self.buf[j] == "}":
                break
        else:
            return None
        try:
            items = json.loads("[" + self.buf[self.pos:j + 1] + "]")
        except (ValueError, RecursionError):  # decoded one by one, to say where
            return None
        self.pos = j + 1
        return items




def dpa_json_events(f, path: Path) -> Iterator[tuple]:
    """Events of a DPA file: ``("meta", key, value)`` and ``("items", list, None)``."""
    text = _JsonText(f, path)
    if text.peek() == "[":
        text.pos += 1
        for items in text.array_items("the top-level array"):
            yield ("items", items, None)
    else:
        seen = False
        for key in text.object_keys("at the start of the document", "top-level "):
            if key == "augmentations":
                text.expect("[", "at the 'augmentations' array (it should be an array)")
                seen = True
                for items in text.array_items("the 'augmentations' array"):
                    yield ("items", items, None)
            elif key in DPA_KEYS:
                yield ("meta", key, text.value(f"in the value of {key!r}"))
            else:
                raise InputError(f"{path}: the top-level key {key!r} is not one of DPA's "
                                 f"{DPA_KEYS}: not a layout dpa reads; {LAYOUTS}")
        if not seen:
            raise InputError(f"{path}: no 'augmentations' array in the top-level object; "
                             f"{LAYOUTS}")
    if text.peek() is not None:
        raise InputError(f"{path}: invalid JSON at {text.where()}: extra data after the document")


def jsonl_events(f, path: Path, max_line: int = 16 << 20) -> Iterator[tuple]:
    """Events of a JSON Lines file: ``("items", records, line_numbers)``."""
    lines: list[str] = []
    numbers: list[int] = []
    lineno = 0

    def flush() -> Iterator[tuple]:
        try:
            items = json.loads("[" + ",".join(lines) + "]")
            if len(items) == len(lines):
                yield ("items", items, list(numbers))
                return
        except (ValueError, RecursionError):
            pass
        items = []
        for text, no in zip(lines, numbers):
            try:
                items.append(json.loads(text))
            except (ValueError, RecursionError) as exc:
                column = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
                raise InputError(
                    f"{path}: line {no}: invalid JSON: {json_problem(exc)}{column}"
                ) from None
        yield ("items", items, list(numbers))

    while True:
        try:
            line = f.readline(max_line + 1)
        except UnicodeDecodeError as exc:
            raise not_utf8(path, exc) from None
        if not line:
            break
        lineno += 1
        if len(line) > max_line and not line.endswith("\n"):
            raise InputError(f"{path}: line {lineno} is longer than {max_line} characters")
        if line.strip():
            lines.append(line)
            numbers.append(lineno)
            if len(lines) >= JSON_BATCH // 4:
                yield from flush()
                lines, numbers = [], []
    if lines:
        yield from flush()


def _first_line(f, limit: int = 1 << 20) -> str:
    """The first line that is not blank (at most ``limit`` characters)."""
    for _ in range(1000):
        line = f.readline(limit)
        if not line or line.strip():
            return line
    return ""


def detect_format(f, path: Path) -> str:
    """``"dpa"`` (a DPA document or a bare array) or ``"jsonl"``.

    A file starting with ``[`` is an array; one starting with ``{`` is a
    document if its first key is one of DPA's, or if its first line is not a
    whole JSON value (an indented object), and JSON Lines otherwise.
    """
    try:
        head = f.read(4096)
        f.seek(0)
        stripped = head.lstrip(" \t\r\n")
        line = _first_line(f) if stripped.startswith("{") else ""
        f.seek(0)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    if stripped.startswith("["):
        return "dpa"
    if not stripped.startswith("{"):
        if not stripped:
            raise InputError(f"{path}: empty file")
        raise InputError(f"{path}: not JSON: expected '{{' or '[' at the start, found "
                         f"{stripped[:1]!r}; {LAYOUTS}")
    m = re.match(r'\{\s*"((?:[^"\\]|\\.)*)"', stripped)
    if m is None or m.group(1) in DPA_KEYS:
        return "dpa"  # a document (the object parser reports what is wrong with it)
    if line.endswith("\n") or len(line) < 1 << 20:  # a whole first line
        try:
            json.loads(line)
        except (ValueError, RecursionError):
            return "dpa"  # an object over several lines: not JSON Lines
    return "jsonl"
