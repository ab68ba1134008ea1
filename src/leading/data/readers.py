r"""Readers for graphs stored as files.

The directory format (the one ``../shared/data`` uses, and the documented way to bring your own
graph):

* ``nodes.jsonl`` or ``nodes.jsonl.gz``: one JSON object per line, in node-id order, with
  ``"node_id"`` (0..N-1), ``"text"`` (str) and optionally ``"label"`` (int) and ``"label_name"``.
* ``edges.csv`` or ``edges.csv.gz``: header ``src,dst``, one edge per row (either direction).
* ``classes.json`` (optional): a JSON list of class names, position ``i`` names label ``i``.
* ``splits.json`` (optional): ``{"train": [ids], "valid": [ids], "test": [ids]}``.

Plain node and edge tables (CSV or TSV, optionally gzipped) are read by :func:`read_tables`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import torch

from leading.data.graph import TextAttributedGraph, check_split
from leading.errors import DataError

__all__ = ["read_directory", "read_tables", "open_text", "find_file"]


def open_text(path: Path) -> io.TextIOBase:
    r"""Opens a text file, transparently decompressing ``.gz``."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    r"""Yields ``(line_number, line)``; turns decompression and decoding failures into
    :class:`DataError` that names the file."""
    try:
        with open_text(path) as f:
            yield from enumerate(f, start=1)
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: unreadable or truncated file ({e})") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid UTF-8 text ({e})") from e


def find_file(root: Path, stem: str, required: bool = True) -> Path | None:
    r"""Finds ``root/stem`` or ``root/stem.gz``."""
    for cand in (root / stem, root / f"{stem}.gz"):
        if cand.exists():
            return cand
    if required:
        raise DataError(f"{root}: expected a file {stem} or {stem}.gz")
    return None


def read_directory(
    root: str | Path, name: str | None = None, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Reads a graph in the directory format described in this module's docstring.

    Args:
        root (str or Path): The directory.
        name (str, optional): Graph name; defaults to the directory name.
        empty_text (str, optional): Placeholder for empty texts (default: empty texts are an error).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    name = name or root.name
    nodes_path = find_file(root, "nodes.jsonl")
    texts, labels, names = _read_nodes_jsonl(nodes_path)
    edge_index = _read_edge_csv(find_file(root, "edges.csv"), len(texts))

    class_names: list[str] | None = None
    classes_path = root / "classes.json"
    if classes_path.exists():
        class_names = _read_json(classes_path)
        if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
            raise DataError(f"{classes_path}: expected a JSON list of class-name strings")
    elif any(n is not None for n in names):
        k = max((lab for lab in labels if lab is not None), default=-1) + 1
        class_names = [str(c) for c in range(k)]
        for lab, n in zip(labels, names, strict=True):
            if lab is not None and n is not None:
                class_names[lab] = n

    y = None
    if any(lab is not None for lab in labels):
        missing = [i for i, lab in enumerate(labels) if lab is None]
        if missing:
            raise DataError(f"{nodes_path}: node {missing[0]} has no 'label' while others do")
        y = torch.tensor(labels, dtype=torch.long)

    splits = {}
    splits_path = root / "splits.json"
    if splits_path.exists():
        raw = _read_json(splits_path)
        if not isinstance(raw, dict):
            raise DataError(f"{splits_path}: expected an object mapping split names to id lists")
        for k, v in raw.items():
            if not isinstance(v, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in v
            ):
                raise DataError(f"{splits_path}: split {k!r} must be a list of integer node ids")
            splits[k] = check_split(
                torch.tensor(v, dtype=torch.long), len(texts), k, str(splits_path)
            )
    try:
        return TextAttributedGraph(
            texts, edge_index, y, class_names, splits, name=name, empty_text=empty_text
        )
    except DataError as e:
        raise DataError(f"{root}: {e}") from e


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e


def _read_nodes_jsonl(path: Path) -> tuple[list, list, list]:
    texts: list = []
    labels: list = []
    names: list = []
    seen: dict[int, int] = {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}, line {lineno}: not valid JSON ({e.msg})") from e
        if not isinstance(obj, dict) or "node_id" not in obj or "text" not in obj:
            raise DataError(f"{path}, line {lineno}: expected an object with 'node_id' and 'text'")
        nid = obj["node_id"]
        if not isinstance(nid, int) or isinstance(nid, bool):
            raise DataError(f"{path}, line {lineno}: node_id must be an integer, got {nid!r}")
        if nid in seen:
            raise DataError(
                f"{path}, line {lineno}: duplicate node_id {nid} (first on line {seen[nid]})"
            )
        if nid != len(texts):
            raise DataError(
                f"{path}, line {lineno}: expected node_id {len(texts)} (ids must be 0..N-1 in "
                f"order), got {nid}"
            )
        seen[nid] = lineno
        text = obj["text"]
        if not isinstance(text, str):
            raise DataError(
                f"{path}, line {lineno}: node {nid} text must be a string, "
                f"got {type(text).__name__}"
            )
        label = obj.get("label")
        if label is not None and (not isinstance(label, int) or isinstance(label, bool)):
            raise DataError(
                f"{path}, line {lineno}: node {nid} label must be a non-negative integer, "
                f"got {label!r}"
            )
        if label is not None and label < 0:
            raise DataError(f"{path}, line {lineno}: node {nid} has negative label {label}")
        texts.append(text)
        labels.append(label)
        names.append(obj.get("label_name"))
    if not texts:
        raise DataError(f"{path}: no nodes")
    return texts, labels, names


def _read_edge_csv(path: Path, num_nodes: int, delimiter: str = ",") -> torch.Tensor:
    rows = iter(_csv_rows(path, delimiter))
    try:
        _, header = next(rows)
    except StopIteration:
        raise DataError(f"{path}: empty file, expected a header 'src{delimiter}dst'") from None
    header = [h.strip() for h in header]
    if header[:2] != ["src", "dst"]:
        raise DataError(f"{path}, line 1: expected header 'src{delimiter}dst', got {header}")
    src: list[int] = []
    dst: list[int] = []
    for lineno, row in rows:
        if not row:
            continue
        if len(row) < 2:
            raise DataError(f"{path}, line {lineno}: expected 2 columns, got {len(row)}")
        try:
            u, v = int(row[0]), int(row[1])
        except ValueError:
            raise DataError(
                f"{path}, line {lineno}: node ids must be integers, got {row[:2]}"
            ) from None
        for w in (u, v):
            if not 0 <= w < num_nodes:
                raise DataError(
                    f"{path}, line {lineno}: node id {w} is outside [0, {num_nodes})"
                )
        src.append(u)
        dst.append(v)
    return torch.tensor([src, dst], dtype=torch.long).view(2, -1)


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    def lines():
        for _, line in _lines(path):
            yield line

    reader = csv.reader(lines(), delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({e})") from e


def _delimiter(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return "\t" if suffixes and suffixes[-1] == ".tsv" else ","


def read_tables(
    nodes: str | Path,
    edges: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    id_column: str | None = "node_id",
    src_column: str = "src",
    dst_column: str = "dst",
    name: str | None = None,
    empty_text: str | None = None,
) -> TextAttributedGraph:
    r"""Reads a graph from a node table and an edge table (``.csv``/``.tsv``, optionally ``.gz``).

    Node ids may be arbitrary strings when :obj:`id_column` is given: they are mapped to
    ``0..N-1`` in table order, and the edge table refers to them by the same strings.
    Labels may be integers or class names (names are numbered in sorted order).

    Args:
        nodes, edges (str or Path): The two tables.
        text_column (str): Column holding node texts.
        label_column (str, optional): Column holding labels (:obj:`None`: unlabelled).
        id_column (str, optional): Column holding node ids (:obj:`None`: row order is the id).
        src_column, dst_column (str): Edge endpoint columns.
    """
    nodes, edges = Path(nodes), Path(edges)
    rows = iter(_csv_rows(nodes, _delimiter(nodes)))
    try:
        _, header = next(rows)
    except StopIteration:
        raise DataError(f"{nodes}: empty file, expected a header row") from None
    col = {h.strip(): i for i, h in enumerate(header)}
    for c in (text_column, label_column, id_column):
        if c is not None and c not in col:
            raise DataError(f"{nodes}, line 1: missing column {c!r} (have {list(col)})")
    ids: dict[str, int] = {}
    texts: list[str] = []
    raw_labels: list[str] = []
    label_lines: list[int] = []
    for lineno, row in rows:
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(
                f"{nodes}, line {lineno}: expected {len(header)} columns, got {len(row)}"
            )
        key = row[col[id_column]].strip() if id_column else str(len(texts))
        if key in ids:
            raise DataError(f"{nodes}, line {lineno}: duplicate node id {key!r}")
        ids[key] = len(texts)
        texts.append(row[col[text_column]])
        if label_column:
            raw_labels.append(row[col[label_column]].strip())
            label_lines.append(lineno)
            if not raw_labels[-1]:
                raise DataError(
                    f"{nodes}, line {lineno}: node {key!r} has an empty {label_column!r} "
                    "(every node needs a label, or pass label_column=None)"
                )

    y, class_names = None, None
    if label_column:
        if all(_is_number(v) for v in raw_labels) and not all(_is_int(v) for v in raw_labels):
            i = next(i for i, v in enumerate(raw_labels) if not _is_int(v))
            raise DataError(
                f"{nodes}, line {label_lines[i]}: non-integer label {raw_labels[i]!r} "
                "(labels must be integers or class names)"
            )
        if all(_is_int(v) for v in raw_labels):
            y = torch.tensor([int(v) for v in raw_labels], dtype=torch.long)
        else:
            class_names = sorted(set(raw_labels))
            index = {c: i for i, c in enumerate(class_names)}
            y = torch.tensor([index[v] for v in raw_labels], dtype=torch.long)

    erows = iter(_csv_rows(edges, _delimiter(edges)))
    try:
        _, eheader = next(erows)
    except StopIteration:
        raise DataError(f"{edges}: empty file, expected a header row") from None
    ecol = {h.strip(): i for i, h in enumerate(eheader)}
    for c in (src_column, dst_column):
        if c not in ecol:
            raise DataError(f"{edges}, line 1: missing column {c!r} (have {list(ecol)})")
    src, dst = [], []
    for lineno, row in erows:
        if not row:
            continue
        pair = []
        for c in (src_column, dst_column):
            key = row[ecol[c]].strip() if ecol[c] < len(row) else ""
            if key not in ids:
                raise DataError(f"{edges}, line {lineno}: unknown node id {key!r} in column {c!r}")
            pair.append(ids[key])
        src.append(pair[0])
        dst.append(pair[1])
    try:
        return TextAttributedGraph(
            texts,
            torch.tensor([src, dst], dtype=torch.long).view(2, -1),
            y,
            class_names,
            name=name or nodes.parent.name or "graph",
            empty_text=empty_text,
        )
    except DataError as e:  # texts and labels come from the node table
        raise DataError(f"{nodes}: {e}") from e


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
