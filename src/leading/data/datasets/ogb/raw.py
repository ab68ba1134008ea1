r"""Readers for the files of OGB's released archives (``raw/``, ``split/`` and ``mapping/``)
and for the ``titleabs.tsv`` paper texts, shared by the node and the link datasets.

The large integer tables (``edge.csv.gz`` has 61.9M rows for ``ogbn-products``) are parsed
block by block with numpy, with an exact file/line error for any malformed row.
"""

from __future__ import annotations

import csv
import gzip
import io
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from leading.data.datasets.download import Source, zip_fetcher
from leading.data.datasets.text_files import (
    fill_texts,
    join_text,
    open_binary,
    read_bytes,
    text_lines,
)
from leading.data.graph import TextAttributedGraph
from leading.errors import DataError

__all__ = ["read_int_csv", "read_titleabs"]

SPLITS = ("train", "valid", "test")
_BLOCK_BYTES = 1 << 26  # parse integer tables in ~64 MB blocks


def _blocks(path: Path) -> Iterator[bytes]:
    r"""Yields the file's bytes in blocks that end at a line break (the last one gets one);
    blank lines at the end of the file are dropped."""
    try:
        with open_binary(path) as f:
            carry, pending = b"", b""
            while chunk := f.read(_BLOCK_BYTES):
                data = carry + chunk
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                if not cut:
                    continue
                if not data[:cut].strip():  # only blank lines so far: maybe the file's end
                    pending += data[:cut]
                    continue
                if pending:
                    yield pending
                pending = data[:cut]
            tail = (pending + carry).rstrip()
            if tail:
                yield tail + b"\n"
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: unreadable or truncated file ({e})") from e
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e


_TO_SPACE = bytes.maketrans(b",", b" ")


def _parse_fast(block: bytes, ncols: int) -> np.ndarray | None:
    r"""Parses a block of well-formed rows with numpy; :obj:`None` if any row is not exactly
    :obj:`ncols` comma-separated integers (then :func:`_parse_slow` finds out which)."""
    nlines = block.count(b"\n")
    if b"\r" in block:
        block = block.replace(b"\r", b"")
    buf = np.frombuffer(block, dtype=np.uint8)
    commas = np.flatnonzero(buf == 44)
    if commas.size != nlines * (ncols - 1):
        return None
    if ncols > 1:
        newlines = np.flatnonzero(buf == 10)
        per_line = np.bincount(np.searchsorted(newlines, commas), minlength=nlines)
        if bool((per_line != ncols - 1).any()):
            return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(block.translate(_TO_SPACE), dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    if values.size != nlines * ncols:
        return None
    return values.reshape(nlines, ncols)


def _parse_slow(block: bytes, ncols: int, path: Path, first_line: int) -> np.ndarray:
    r"""Parses a block line by line and raises :class:`DataError` at the first malformed row."""
    rows: list[list[int]] = []
    for i, raw in enumerate(block.split(b"\n")[:-1]):
        line = raw.decode("utf-8", "replace").strip()
        where = f"{path}, line {first_line + i}"
        if not line:
            raise DataError(f"{where}: empty line, expected {ncols} comma-separated integer(s)")
        fields = line.split(",")
        if len(fields) != ncols:
            raise DataError(f"{where}: expected {ncols} comma-separated integer(s), got {line!r}")
        try:
            row = [int(v) for v in fields]
        except ValueError:
            raise DataError(f"{where}: expected integer(s), got {line!r}") from None
        if any(not -(2**63) <= v < 2**63 for v in row):
            raise DataError(f"{where}: integer out of the int64 range in {line!r}")
        rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(-1, ncols)


def read_int_csv(path: str | Path, ncols: int, header: str | None = None) -> np.ndarray:
    r"""Reads a headerless (or one-header-line) CSV of integers, as OGB's ``raw/*.csv.gz``,
    ``split/*/*.csv.gz`` and ``mapping/nodeidx2paperid.csv.gz`` files are, fast (numpy on
    ~64 MB blocks; a row-by-row pass only for a block that is not well-formed). A row that is
    not :obj:`ncols` integers raises :class:`DataError` with its file and line; blank lines are
    allowed only at the end of the file.

    Args:
        path (str or Path): The file (``.gz`` is decompressed).
        ncols (int): Number of columns every row must have.
        header (str, optional): If given, the first line is a header (its expected text, used in
            the error message when the first line is not a header).

    Returns:
        np.ndarray: :obj:`[rows, ncols]` int64 array.
    """
    path = Path(path)
    parts: list[np.ndarray] = []
    line = 1
    for block in _blocks(path):
        if header is not None and line == 1:
            first, _, block = block.partition(b"\n")
            text = first.decode("utf-8", "replace").strip()
            if text.split(",")[0].strip().lstrip("-").isdigit():
                raise DataError(f"{path}, line 1: expected a header line {header!r}, got {text!r}")
            line = 2
        values = _parse_fast(block, ncols)
        parts.append(_parse_slow(block, ncols, path, line) if values is None else values)
        line += block.count(b"\n")
    return np.concatenate(parts) if parts else np.zeros((0, ncols), dtype=np.int64)


def check_range(values: np.ndarray, n: int, path: Path, what: str, line0: int = 1) -> None:
    r"""Every entry of :obj:`values` (rows = file lines from :obj:`line0`) lies in ``[0, n)``."""
    bad = (values < 0) | (values >= n)
    if bool(bad.any()):
        row = int(np.flatnonzero(bad.reshape(len(values), -1).any(1))[0])
        raise DataError(
            f"{path}, line {row + line0}: {what} {values[row].tolist()} outside [0, {n})"
        )


def read_index_column(path: Path, n: int | None, header: str, what: str) -> np.ndarray:
    r"""Reads ``idx,value`` rows whose first column must be 0..n-1 in order."""
    table = read_int_csv(path, 2, header=header)
    _check_order(table[:, 0], n, path, what)
    return table[:, 1]


def _check_order(idx: np.ndarray, n: int | None, path: Path, what: str) -> None:
    bad = np.flatnonzero(idx != np.arange(len(idx)))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path}, line {i + 2}: expected {what} {i}, got {int(idx[i])}")
    if n is not None and len(idx) != n:
        raise DataError(
            f"{path}: expected {n} rows after the header (one per node), got {len(idx)}"
        )


def read_labels(path: Path) -> np.ndarray:
    return read_int_csv(path, 1)[:, 0]


def read_split(path: Path, n: int) -> Tensor:
    idx = read_int_csv(path, 1)[:, 0]
    check_range(idx, n, path, "node id")
    uniq, first = np.unique(idx, return_index=True)
    if uniq.size != idx.size:
        seen = np.zeros(idx.size, dtype=bool)
        seen[first] = True
        row = int(np.flatnonzero(~seen)[0])
        raise DataError(f"{path}, line {row + 1}: node {int(idx[row])} is listed twice")
    return torch.from_numpy(idx)


def read_edges(path: Path, n: int) -> Tensor:
    edges = read_int_csv(path, 2)
    check_range(edges, n, path, "edge")
    return torch.from_numpy(edges).t()


def check_num_nodes(folder: Path, n: int) -> None:
    path = folder / "raw" / "num-node-list.csv.gz"
    if path.is_file():
        counts = read_int_csv(path, 1)[:, 0]
        if counts.size != 1 or int(counts[0]) != n:
            raise DataError(f"{path}: says {counts.tolist()} node(s), but the data has {n}")


def read_class_names(path: Path, header: str) -> list[str]:
    r"""Reads ``label idx,<name>`` rows (OGB's ``labelidx2*.csv.gz``; names may be quoted)."""
    data = read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or (rows[0] and rows[0][0].strip().isdigit()):
        raise DataError(f"{path}, line 1: expected a header line {header!r}")
    names = []
    for i, row in enumerate(rows[1:]):
        if len(row) != 2:
            raise DataError(f"{path}, line {i + 2}: expected 2 columns, got {len(row)}: {row}")
        if row[0].strip() != str(i):
            raise DataError(f"{path}, line {i + 2}: expected label idx {i}, got {row[0]!r}")
        names.append(row[1].strip())
    if not names:
        raise DataError(f"{path}: no class names")
    return names


def paper_index(paper_ids: np.ndarray, path: Path) -> dict[int, int]:
    r"""``paper id -> node`` for a mapping table; duplicate ids are an error."""
    index: dict[int, int] = {}
    for node, pid in enumerate(paper_ids.tolist()):
        if pid in index:
            raise DataError(
                f"{path}, line {node + 2}: paper id {pid} is mapped to both node {index[pid]} "
                f"and node {node}"
            )
        index[pid] = node
    return index


def read_titleabs(path: str | Path, index: dict[int, int], num_nodes: int) -> list[str | None]:
    r"""Reads a ``paper id<TAB>title<TAB>abstract`` file (OGB's ``titleabs.tsv``) and returns
    the text of each node whose paper id is in :obj:`index`, :obj:`None` where there is none.

    Lines whose first field is not an integer (a header, or the broken first and last lines of
    the released ``titleabs.tsv``) are skipped; a line for a needed paper without the three
    columns is an error. The first line for a paper id wins.

    Args:
        path (str or Path): The file (``.gz`` is decompressed).
        index (dict): ``paper id -> node id``.
        num_nodes (int): Number of nodes.
    """
    path = Path(path)
    texts: list[str | None] = [None] * num_nodes
    for lineno, line in text_lines(path):
        head, sep, rest = line.partition("\t")
        try:
            pid = int(head)
        except ValueError:
            continue
        node = index.get(pid)
        if node is None or texts[node] is not None:
            continue
        title, sep2, abstract = rest.partition("\t")
        if not sep or not sep2:
            raise DataError(
                f"{path}, line {lineno}: expected 3 tab-separated columns (paper id, title, "
                f"abstract) for paper {pid} (node {node})"
            )
        texts[node] = join_text(title, abstract)
    return texts


def read_paper_texts(
    path: Path, paper_ids: np.ndarray, mapping: Path, empty_text: str | None
) -> list[str]:
    r"""The text of each node from a ``titleabs.tsv`` file (:func:`read_titleabs`), the nodes'
    MAG paper ids :obj:`paper_ids` read from the mapping table :obj:`mapping`; a paper with no
    text is an error, or gets :obj:`empty_text` (:func:`fill_texts`)."""
    texts = read_titleabs(path, paper_index(paper_ids, mapping), len(paper_ids))
    return fill_texts(texts, paper_ids.tolist(), "paper id", str(path), empty_text)


def zip_source(folder: Path, inner: str, url: str) -> Source:
    r"""The :class:`Source` of one of OGB's zip archives: :obj:`url`, downloaded to and unpacked
    in ``folder.parent``, where the archive's folder :obj:`inner` becomes :obj:`folder`."""
    return Source(
        url,
        zip_fetcher(folder.parent, inner, folder, url.rsplit("/", 1)[-1]),
        f"unzip it in {folder.parent}; its folder {inner}/ becomes {folder}/",
    )


def build_graph(name: str, folder: Path, **kwargs) -> TextAttributedGraph:
    try:
        return TextAttributedGraph(name=name, **kwargs)
    except DataError as e:
        raise DataError(f"{folder}: {e}") from e
