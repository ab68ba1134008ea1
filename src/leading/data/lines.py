r"""Reading text files line by line for the graph readers.

Every fault a file can have (missing, a directory, unreadable, not gzip, truncated or corrupt
gzip, not UTF-8, not JSON, malformed CSV) becomes a :class:`~leading.errors.DataError` that
names the file as given, the 1-based line where there is one, what was found and what to do.
Accepted everywhere: plain or gzipped (``.gz``) files, a UTF-8 byte-order mark at the start,
``\n`` or ``\r\n`` line ends. On top of these, the parsers of the directory format's edge list
(:func:`read_edge_list`), class names (:func:`read_name_list`) and splits
(:func:`read_id_lists`) check every value.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from leading.data.graph import check_split
from leading.errors import DataError

__all__ = [
    "at",
    "show",
    "json_kind",
    "open_text",
    "numbered_lines",
    "read_json",
    "parse_json_line",
    "csv_rows",
    "separator_in",
    "is_int",
    "read_edge_list",
    "read_name_list",
    "read_id_lists",
]

#: Column separators that are not the expected one, with the names used in messages.
SEPARATORS = {"\t": "tabs", ";": "semicolons", "|": "vertical bars", " ": "spaces"}


def at(path: Path, lineno: int | None = None) -> str:
    r"""The location prefix of a message: ``path`` or ``path, line N``."""
    return f"{path}" if lineno is None else f"{path}, line {lineno}"


def show(value: Any, limit: int = 40) -> str:
    r"""A short :func:`repr` of :obj:`value` for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_kind(value: Any) -> str:
    r"""What a parsed JSON value is, in words: ``'a string'``, ``'a list'``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    kinds = {str: "a string", list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def open_text(path: Path) -> io.TextIOBase:
    r"""Opens a UTF-8 text file (a leading byte-order mark is dropped), transparently
    decompressing ``.gz``; lines keep their ends (``newline=""``, as :mod:`csv` wants).

    Raises:
        DataError: if the file is missing, a directory or cannot be opened.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise DataError(f"{path}: is a directory, expected a file")
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
        return open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(_os_failure(path, e)) from None


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    r"""Yields ``(line_number, line)`` from 1, each line with its end (see :func:`open_text`).

    Raises:
        DataError: naming the file (and the line, for text that is not UTF-8) for any fault
            of the file itself.
    """
    lineno = 0
    try:
        with open_text(path) as f:
            for lineno, line in enumerate(f, start=1):
                yield lineno, line
    except UnicodeDecodeError as e:
        raise DataError(_not_utf8(path, e)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(_gzip_failure(path, e, lineno)) from None
    except OSError as e:
        raise DataError(_os_failure(path, e)) from None


def read_json(path: Path, expected: str) -> Any:
    r"""Reads a whole file as one JSON value; :obj:`expected` says what it should hold (for
    messages)."""
    text = "".join(line for _, line in numbered_lines(path))
    if not text.strip():
        raise DataError(f"{path}: empty file, expected {expected}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        lineno, why = _json_error(text)
        msg = f"{at(path, lineno)}: not valid JSON ({why}); expected {expected}"
        raise DataError(msg) from None


def parse_json_line(path: Path, lineno: int, line: str) -> Any:
    r"""Parses one line of a JSON-lines file."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        _, why = _json_error(line.rstrip("\r\n"))  # columns of this line, without its end
        raise DataError(
            f"{at(path, lineno)}: not valid JSON ({why}); each line must hold one whole JSON "
            "object"
        ) from None


def _json_error(text: str) -> tuple[int | None, str]:
    r"""Where and why :obj:`text` is not JSON."""
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return e.lineno, f"{e.msg} at column {e.colno}"
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        return None, str(e)
    return None, "unknown error"  # pragma: no cover (the text failed to parse before)


def csv_rows(path: Path, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    r"""Yields ``(line_number, row)`` of a CSV (or TSV) file; the number is that of the row's
    last line (a quoted cell may span lines)."""
    reader = csv.reader((line for _, line in numbered_lines(path)), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as e:
        raise DataError(f"{at(path, reader.line_num)}: malformed CSV ({e})") from None


def separator_in(text: str) -> str | None:
    r"""The name of a column separator other than a comma found in :obj:`text` (``'tabs'``,
    ``'semicolons'``, ...), or :obj:`None`."""
    text = text.strip()
    return next((name for sep, name in SEPARATORS.items() if sep in text), None)


def is_int(text: str) -> bool:
    r"""Whether :obj:`text` is an integer as :func:`int` reads it."""
    try:
        int(text)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------ directory format
def read_edge_list(path: Path, num_nodes: int, nodes: Path | str = "the node file") -> torch.Tensor:
    r"""Reads an edge list with the header ``src,dst`` (further columns are ignored), one edge
    per row, node ids in :obj:`[0, num_nodes)`; :obj:`nodes` names the file defining the nodes.

    Returns:
        Tensor: The edges :obj:`[2, E]` as given.
    """
    rows = csv_rows(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise DataError(f"{path}: empty file, expected a header 'src,dst'") from None
    if [h.strip() for h in header[:2]] != ["src", "dst"]:
        raise DataError(
            f"{at(path, 1)}: expected header 'src,dst', got {show(','.join(header))}"
            f"{_header_hint(header)}"
        )
    src: list[int] = []
    dst: list[int] = []
    for lineno, row in rows:
        try:
            u, v = int(row[0]), int(row[1])
        except (IndexError, ValueError):
            if not any(c.strip() for c in row):
                continue  # a blank line
            raise DataError(f"{at(path, lineno)}: {_bad_row(row)}") from None
        if not (0 <= u < num_nodes and 0 <= v < num_nodes):
            w = v if 0 <= u < num_nodes else u
            raise DataError(
                f"{at(path, lineno)}: node id {w} is outside [0, {num_nodes}); {nodes} has "
                f"{num_nodes} node{'s' if num_nodes != 1 else ''}"
            )
        src.append(u)
        dst.append(v)
    return torch.tensor([src, dst], dtype=torch.long).view(2, -1)


def _bad_row(row: list[str]) -> str:
    if len(row) < 2:
        sep = separator_in(row[0])
        fix = f" separated by commas, not {sep}" if sep else ""
        return f"expected 2 columns, got {len(row)} ({show(row[0])}); a row is src,dst{fix}"
    return f"node ids must be integers, got src={show(row[0])}, dst={show(row[1])}"


def _header_hint(header: list[str]) -> str:
    sep = separator_in(header[0]) if len(header) == 1 else None
    if sep:
        return f"; separate the columns with commas, not {sep}"
    if len(header) >= 2 and all(is_int(c) for c in header[:2]):
        return "; the first line must be the header src,dst (insert it above the edges)"
    return "; the first line must name the columns src,dst (extra columns may follow)"


def read_name_list(path: Path) -> list[str]:
    r"""Reads a JSON list of distinct strings (``classes.json``)."""
    expected = "a JSON list of class-name strings"
    names = read_json(path, expected)
    if not isinstance(names, list):
        raise DataError(f"{path}: expected {expected}, got {json_kind(names)} {show(names)}")
    seen: dict[str, int] = {}
    for i, c in enumerate(names):
        if not isinstance(c, str):
            raise DataError(
                f"{path}: expected {expected}, entry #{i} is {show(c)} ({json_kind(c)})"
            )
        if c in seen:
            raise DataError(
                f"{path}: class name {show(c)} appears twice (entries #{seen[c]} and #{i}); "
                "class names must be distinct"
            )
        seen[c] = i
    return names


def read_id_lists(path: Path, n: int, required: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    r"""Reads a JSON object of node-id lists (``splits.json``), ids in :obj:`[0, n)` without
    repeats; it must have the keys :obj:`required`, whose lists must be disjoint."""
    raw = read_json(path, 'an object {"train": [ids], "valid": [ids], "test": [ids]}')
    if not isinstance(raw, dict):
        raise DataError(
            f"{path}: expected an object mapping split names to id lists, got {json_kind(raw)}"
        )
    splits, owner = {}, {}
    for k, ids in raw.items():
        if not isinstance(ids, list):
            raise DataError(
                f"{path}: split {k!r} must be a list of integer node ids, got {json_kind(ids)}"
            )
        for j, i in enumerate(ids):
            if not isinstance(i, int) or isinstance(i, bool):
                raise DataError(
                    f"{path}: split {k!r} must be a list of integer node ids, entry #{j} is "
                    f"{show(i)} ({json_kind(i)})"
                )
            if not 0 <= i < n:
                raise DataError(
                    f"{path}: split {k!r} contains node id {i} outside [0, {n}) (entry #{j}); "
                    f"the graph has {n} nodes"
                )
        splits[k] = check_split(torch.tensor(ids, dtype=torch.long), n, k, str(path))
        for i in ids if k in required else ():
            if owner.setdefault(i, k) != k:
                raise DataError(
                    f"{path}: node {i} is in both split {owner[i]!r} and split {k!r}; the "
                    "splits must be disjoint"
                )
    missing = [k for k in required if k not in raw]
    if missing:
        have = ", ".join(map(repr, raw)) or "none"
        need = ", ".join(f'"{k}"' for k in required)
        raise DataError(f"{path}: no split {missing[0]!r} (found {have}); it needs {need}")
    return splits


# ------------------------------------------------------------------------------ failures
def _os_failure(path: Path, e: OSError) -> str:
    if isinstance(e, PermissionError):
        return f"{path}: permission denied; make the file readable (chmod a+r '{path}')"
    if isinstance(e, IsADirectoryError):
        return f"{path}: is a directory, expected a file"
    return f"{path}: cannot read the file ({e.strerror or e})"


def _gzip_failure(path: Path, e: Exception, lineno: int) -> str:
    if isinstance(e, gzip.BadGzipFile) and str(e).startswith("Not a gzipped file"):
        return (
            f"{path}: not a gzip file, although its name ends in .gz; compress it with gzip, "
            "or drop the .gz suffix if it is plain text"
        )
    after = f" after line {lineno}" if lineno else ""
    if isinstance(e, EOFError):
        return (
            f"{path}: truncated gzip file: the compressed data ends early{after}; re-create or "
            "re-download the file"
        )
    return f"{path}: corrupt gzip data{after} ({e}); re-create or re-download the file"


def _not_utf8(path: Path, e: UnicodeDecodeError) -> str:
    r"""Finds the first line that is not UTF-8 (the text reader decodes ahead, in chunks)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            for lineno, raw in enumerate(f, start=1):
                if lineno == 1:
                    hint = _encoding_hint(path, raw)
                    if hint:
                        return f"{path}: not UTF-8 text ({hint})"
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as bad:
                    return (
                        f"{at(path, lineno)}: not valid UTF-8 (byte 0x{raw[bad.start]:02x} at "
                        f"offset {bad.start} of the line); save the file as UTF-8"
                    )
    except (OSError, EOFError, zlib.error):
        pass
    return f"{path}: not valid UTF-8 ({e.reason}); save the file as UTF-8"


def _encoding_hint(path: Path, first: bytes) -> str | None:
    if first.startswith(b"\x1f\x8b"):
        return f"it is gzip-compressed; name it {path.name}.gz"
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "it is UTF-16; save it as UTF-8"
    return None
