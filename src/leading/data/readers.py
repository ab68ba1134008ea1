r"""Readers for graphs stored as files.

The directory format (the one ``../shared/data`` uses, and the documented way to bring your own
graph; ``docs/data_format.md`` has the details and examples):

* ``nodes.jsonl`` or ``nodes.jsonl.gz``: one JSON object per line, in node-id order, with
  ``"node_id"`` (the integers 0..N-1, as JSON numbers), ``"text"`` (a non-empty string) and
  optionally ``"label"`` (an integer 0..C-1, on every node or none) and ``"label_name"``.
* ``edges.csv`` or ``edges.csv.gz``: header ``src,dst``, one edge per row (either direction;
  duplicates and self-loops are dropped).
* ``classes.json`` (optional): a JSON list of distinct class names, position ``i`` names label
  ``i``.
* ``splits.json`` (optional): ``{"train": [ids], "valid": [ids], "test": [ids]}``, disjoint.

Also accepted: a UTF-8 byte-order mark, ``\r\n`` line ends, blank lines, unknown keys in node
objects and columns after ``src,dst``. Anything else malformed raises
:class:`~leading.errors.DataError` naming the file, the line (or node), what was found and what
was expected.

Plain node and edge tables (CSV or TSV, optionally gzipped) are read by :func:`read_tables`.
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import torch

from leading.data.graph import TextAttributedGraph
from leading.data.lines import (
    at,
    csv_rows,
    is_int,
    json_kind,
    numbered_lines,
    open_text,
    parse_json_line,
    read_edge_list,
    read_id_lists,
    read_name_list,
    show,
)
from leading.errors import DataError

__all__ = ["read_directory", "read_tables", "open_text", "find_file"]

#: The splits a ``splits.json`` must have.
SPLITS = ("train", "valid", "test")

#: Without ``classes.json`` the classes are 0..max label; a larger label is taken for an error.
MAX_CLASSES = 1_000_000


def find_file(root: Path, stem: str, required: bool = True) -> Path | None:
    r"""Finds ``root/stem`` or ``root/stem.gz`` (the plain file first)."""
    for cand in (root / stem, root / f"{stem}.gz"):
        try:
            if os.path.lexists(cand):
                return cand
        except OSError as e:  # pragma: no cover (lexists only fails on odd file systems)
            raise DataError(f"{cand}: cannot access ({e.strerror or e})") from None
    if required:
        raise DataError(f"{root}: expected a file {stem} or {stem}.gz{_found(root)}")
    return None


def _found(root: Path) -> str:
    r"""What :obj:`root` holds, for the message about a missing file."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return ""
    if not names:
        return " (the directory is empty)"
    more = f", ... ({len(names)} entries)" if len(names) > 8 else ""
    return f" (found {', '.join(names[:8])}{more})"


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
        what = "it is a file" if root.exists() else "it does not exist"
        raise DataError(
            f"{root}: not a directory ({what}); expected a directory holding nodes.jsonl and "
            "edges.csv"
        )
    nodes = _read_nodes_jsonl(find_file(root, "nodes.jsonl"), empty_text)
    n = len(nodes.texts)
    edge_index = read_edge_list(find_file(root, "edges.csv"), n, nodes.path)
    y, class_names = _labels(nodes, root / "classes.json")
    splits = {}
    if os.path.lexists(root / "splits.json"):
        splits = read_id_lists(root / "splits.json", n, SPLITS)
    name = name or root.name
    try:  # everything was checked above; this names the directory should a check be missing
        return TextAttributedGraph(
            nodes.texts, edge_index, y, class_names, splits, name=name, empty_text=empty_text
        )
    except DataError as e:
        raise DataError(f"{root}: {str(e).removeprefix(f'{name}: ')}") from e


# ---------------------------------------------------------------------------- nodes.jsonl
@dataclass
class _Nodes:
    r"""The content of ``nodes.jsonl``, and the line of each node for messages."""

    path: Path
    texts: list[str] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)
    label_names: list[str | None] = field(default_factory=list)
    lines: array = field(default_factory=lambda: array("q"))


def _read_nodes_jsonl(path: Path, empty_text: str | None = None) -> _Nodes:
    r"""Reads ``nodes.jsonl``, checking every line (labels against the classes come later)."""
    nodes = _Nodes(path)
    for lineno, line in numbered_lines(path):
        if not line.strip():
            continue
        obj = parse_json_line(path, lineno, line)
        nid = _node_id(obj, path, lineno, nodes)
        text = obj["text"]
        if not isinstance(text, str):
            raise DataError(
                f"{at(path, lineno)}: node {nid} text must be a string, got {type(text).__name__}"
            )
        if not text.strip():
            if empty_text is None:
                raise DataError(
                    f"{at(path, lineno)}: node {nid} has an empty text; give it a non-empty "
                    "\"text\" (from Python, read_directory(..., empty_text='...') puts a "
                    "placeholder instead)"
                )
            text = empty_text
        label, label_name = obj.get("label"), obj.get("label_name")
        if label is not None and (type(label) is not int or label < 0):
            raise DataError(f"{at(path, lineno)}: node {nid} {_bad_label(label)}")
        if label_name is not None and not isinstance(label_name, str):
            raise DataError(
                f"{at(path, lineno)}: node {nid} label_name must be a string, got "
                f"{show(label_name)} ({json_kind(label_name)})"
            )
        nodes.texts.append(text)
        nodes.labels.append(label)
        nodes.label_names.append(label_name)
        nodes.lines.append(lineno)
    if not nodes.texts:
        raise DataError(
            f"{path}: no nodes (the file is empty or blank); expected one JSON object per line"
        )
    return nodes


def _node_id(obj, path: Path, lineno: int, nodes: _Nodes) -> int:
    r"""The id of the node object :obj:`obj`, which must be the next one, ``len(nodes.texts)``."""
    if type(obj) is dict and "text" in obj and type(obj.get("node_id")) is int:
        nid = obj["node_id"]
        if nid == len(nodes.texts):
            return nid  # the common case, checked quickly
    where, expected = at(path, lineno), "expected an object with 'node_id' and 'text'"
    if not isinstance(obj, dict):
        raise DataError(f"{where}: {expected}, got {json_kind(obj)} {show(obj)}")
    missing = [k for k in ("node_id", "text") if k not in obj]
    if missing:
        keys = ", ".join(map(repr, obj)) or "none"
        raise DataError(f"{where}: {expected}; {missing[0]!r} is missing (keys: {keys})")
    nid, n = obj["node_id"], len(nodes.texts)
    if not isinstance(nid, int) or isinstance(nid, bool):
        fix = ""
        if isinstance(nid, str) and is_int(nid):
            fix = f"; write it as a number, without quotes: \"node_id\": {nid.strip()}"
        raise DataError(
            f"{where}: node_id must be an integer, got {show(nid)} ({json_kind(nid)}){fix}"
        )
    if 0 <= nid < n:
        raise DataError(f"{where}: duplicate node_id {nid} (first on line {nodes.lines[nid]})")
    why = "node_id must be 0 or more" if nid < 0 else f"node {n} is missing or out of order"
    raise DataError(
        f"{where}: expected node_id {n} (ids must be 0..N-1 in order, one line per node), "
        f"got {nid}: {why}"
    )


def _bad_label(label) -> str:
    if isinstance(label, int) and not isinstance(label, bool):
        return f"has negative label {label} (labels are 0..C-1)"
    return f"label must be a non-negative integer, got {show(label)} ({json_kind(label)})"


# ------------------------------------------------------------------------------- labels
def _labels(nodes: _Nodes, classes_path: Path) -> tuple[torch.Tensor | None, list[str] | None]:
    r"""The label tensor and the class names, from the nodes and ``classes.json``."""
    labels = nodes.labels
    first = next((i for i, lab in enumerate(labels) if lab is not None), None)
    if first is not None:
        i = next((i for i, lab in enumerate(labels) if lab is None), None)
        if i is not None:
            raise DataError(
                f"{at(nodes.path, nodes.lines[i])}: node {i} has no 'label', but node {first} "
                f"(line {nodes.lines[first]}) has one; label every node or none"
            )
    has_names = any(name is not None for name in nodes.label_names)
    if os.path.lexists(classes_path):
        class_names = read_name_list(classes_path)
        k = len(class_names)
        _check_label_range(nodes, k, f"{classes_path} names {k} class{'es' if k != 1 else ''}")
    elif first is not None or has_names:
        class_names = None
        _check_label_range(
            nodes, MAX_CLASSES, f"without classes.json at most {MAX_CLASSES} classes are allowed"
        )
    else:
        return None, None
    named = _names_from_nodes(nodes, class_names, classes_path)
    if class_names is None and has_names:
        k = max(labels) + 1 if first is not None else 0
        class_names = [named.get(c, str(c)) for c in range(k)]
    y = torch.tensor(labels, dtype=torch.long) if first is not None else None
    return y, class_names


def _check_label_range(nodes: _Nodes, limit: int, classes: str) -> None:
    r"""Checks that every label is below :obj:`limit`; :obj:`classes` says where it comes from."""
    i = next((i for i, lab in enumerate(nodes.labels) if lab is not None and lab >= limit), None)
    if i is not None:
        valid = f"labels 0..{limit - 1}" if limit else "no label is valid"
        raise DataError(
            f"{at(nodes.path, nodes.lines[i])}: node {i} has label {nodes.labels[i]}, but "
            f"{classes} ({valid}); fix the label, or name every class in classes.json"
        )


def _names_from_nodes(
    nodes: _Nodes, class_names: list[str] | None, classes_path: Path
) -> dict[int, str]:
    r"""The class names given by the nodes' ``label_name``, checked against each other and
    against ``classes.json``."""
    named: dict[int, tuple[str, int]] = {}
    for i, (lab, name) in enumerate(zip(nodes.labels, nodes.label_names, strict=True)):
        if lab is None or name is None:
            continue
        where = at(nodes.path, nodes.lines[i])
        if class_names is not None and class_names[lab] != name:
            raise DataError(
                f"{where}: node {i} has label_name {show(name)}, but {classes_path} names label "
                f"{lab} {show(class_names[lab])}; make them agree"
            )
        first = named.setdefault(lab, (name, nodes.lines[i]))
        if first[0] != name:
            raise DataError(
                f"{where}: node {i} has label_name {show(name)} for label {lab}, but line "
                f"{first[1]} names it {show(first[0])}; one name per label"
            )
    return {lab: name for lab, (name, _) in named.items()}


# ------------------------------------------------------------------------------ plain tables
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
    rows = iter(csv_rows(nodes, _delimiter(nodes)))
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
        if all(_is_number(v) for v in raw_labels) and not all(is_int(v) for v in raw_labels):
            i = next(i for i, v in enumerate(raw_labels) if not is_int(v))
            raise DataError(
                f"{nodes}, line {label_lines[i]}: non-integer label {raw_labels[i]!r} "
                "(labels must be integers or class names)"
            )
        if all(is_int(v) for v in raw_labels):
            y = torch.tensor([int(v) for v in raw_labels], dtype=torch.long)
        else:
            class_names = sorted(set(raw_labels))
            index = {c: i for i, c in enumerate(class_names)}
            y = torch.tensor([index[v] for v in raw_labels], dtype=torch.long)

    erows = iter(csv_rows(edges, _delimiter(edges)))
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
        graph_name = name or nodes.parent.name or "graph"
        raise DataError(f"{nodes}: {str(e).removeprefix(f'{graph_name}: ')}") from e


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
