r"""Reading the text files of released datasets, and node texts from their fields.

Files are read whole or line by line, ``.gz`` decompressed; unreadable, truncated or non-UTF-8
files raise :class:`DataError` naming the file. A node's text is ``"<title>: <body>"``.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from leading.errors import DataError

__all__ = ["read_bytes", "text_lines", "join_text", "fill_texts"]


def open_binary(path: Path) -> io.BufferedIOBase:
    r"""Opens :obj:`path` for reading bytes (``.gz`` is decompressed)."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # type: ignore


def read_bytes(path: str | Path) -> bytes:
    r"""The whole file (``.gz`` is decompressed); read failures become :class:`DataError`."""
    path = Path(path)
    try:
        with open_binary(path) as f:
            return f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: unreadable or truncated file ({e})") from e
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    r"""``(line_number, line)`` pairs, split on ``\n`` only (a stray ``\r`` inside an abstract
    does not break a line), without the line break, UTF-8 (a leading BOM is dropped)."""
    try:
        raw = open_binary(path)
        with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as f:
            for lineno, line in enumerate(f, start=1):
                if lineno == 1:
                    line = line.lstrip("\ufeff")
                yield lineno, line.rstrip("\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: unreadable or truncated file ({e})") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid UTF-8 text ({e})") from e


def join_text(title: str | None, body: str | None) -> str:
    r"""``"<title>: <body>"`` (the form of the packaged Cora), dropping an empty part."""
    parts = [p.strip() for p in (title, body) if isinstance(p, str) and p.strip()]
    return ": ".join(parts)


def fill_texts(
    texts: list[str | None],
    keys: Sequence[object],
    key_name: str,
    sources: str,
    empty_text: str | None,
) -> list[str]:
    r"""Replaces missing texts by :obj:`empty_text`, or raises naming the first missing nodes."""
    missing = [i for i, t in enumerate(texts) if t is None]
    if missing and empty_text is None:
        shown = ", ".join(f"node {i} ({key_name} {keys[i]})" for i in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(
            f"no text for {len(missing)} node(s) in {sources}: {shown}{more} (pass "
            "empty_text='...' to use a placeholder for them)"
        )
    return [empty_text if t is None else t for t in texts]  # type: ignore[misc]
