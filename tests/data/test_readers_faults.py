r"""Faults in a graph directory: every malformed input raises a one-line :class:`DataError` naming
the file (as given), the line or node, the cause and the fix; the accepted variants of the format
read back as the clean graph."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from leading.cli import main
from leading.data import lines, read_directory
from leading.errors import DataError

TEXTS = ["graph networks", "language models", "message passing", "attention", "citations", "x"]
LABELS = [0, 1, 2, 0, 1, 2]
CLASSES = ["theory", "neural", "bayes"]
EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0)]
SPLITS = {"train": [0, 1, 2], "valid": [3], "test": [4, 5]}

Files = dict[str, bytes]


def node(i: int, **changes) -> dict:
    r"""Node :obj:`i` of the clean graph as a JSON object; a change to :obj:`None` drops the key."""
    obj = {"node_id": i, "text": TEXTS[i], "label": LABELS[i], **changes}
    return {k: v for k, v in obj.items() if v is not None}


def clean_files() -> Files:
    nodes = "".join(json.dumps(node(i)) + "\n" for i in range(len(TEXTS)))
    edges = "src,dst\n" + "".join(f"{u},{v}\n" for u, v in EDGES)
    return {
        "nodes.jsonl": nodes.encode(),
        "edges.csv": edges.encode(),
        "classes.json": json.dumps(CLASSES).encode(),
        "splits.json": json.dumps(SPLITS).encode(),
    }


def write(root: Path, files: Files) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


def set_line(name: str, lineno: int, text: str | dict) -> Callable[[Files], None]:
    r"""Replaces line :obj:`lineno` (1-based) of file :obj:`name` (a dict is dumped as JSON)."""

    def edit(files: Files) -> None:
        rows = files[name].decode().split("\n")
        rows[lineno - 1] = text if isinstance(text, str) else json.dumps(text)
        files[name] = "\n".join(rows).encode()

    return edit


def put(name: str, data: bytes | str | object) -> Callable[[Files], None]:
    r"""Replaces file :obj:`name` by raw bytes, text, or (anything else) its JSON."""

    def edit(files: Files) -> None:
        if isinstance(data, bytes):
            files[name] = data
        else:
            files[name] = (data if isinstance(data, str) else json.dumps(data)).encode()

    return edit


def drop(name: str) -> Callable[[Files], None]:
    return lambda files: files.pop(name)


def both(*edits: Callable[[Files], None]) -> Callable[[Files], None]:
    def edit(files: Files) -> None:
        for e in edits:
            e(files)

    return edit


def gzipped(name: str, cut: int = 0, plain: bool = False, crc: bool = False):
    r"""Renames :obj:`name` to ``name.gz``: compressed (less its last :obj:`cut` bytes, or with a
    wrong CRC-32 when :obj:`crc`), or with the plain content when :obj:`plain`."""

    def edit(files: Files) -> None:
        data = files.pop(name)
        data = data if plain else gzip.compress(data)
        if crc:  # the trailer: CRC-32, then the size
            data = data[:-8] + bytes(4) + data[-4:]
        files[f"{name}.gz"] = data[: len(data) - cut]

    return edit


@dataclass
class Fault:
    id: str
    edit: Callable[[Files], None] | None  # None: see `dirs`
    file: str  # the file the message names (relative to the graph directory)
    line: int | None
    cause: tuple[str, ...]  # fragments of the message, in order
    dirs: tuple[str, ...] = ()  # files replaced by a directory


FAULTS = [
    # ------------------------------------------------------------------ nodes.jsonl
    Fault("node-bad-json", set_line("nodes.jsonl", 3, '{"node_id": 2, "text": "x"'),
          "nodes.jsonl", 3, ("not valid JSON", "one whole JSON object")),
    Fault("node-pretty-printed", put("nodes.jsonl", json.dumps(node(0), indent=1)),
          "nodes.jsonl", 1, ("not valid JSON",)),
    Fault("node-nested-too-deeply", set_line("nodes.jsonl", 2, "[" * 100_000), "nodes.jsonl", 2,
          ("not valid JSON (nested too deeply)",)),
    Fault("node-not-object", set_line("nodes.jsonl", 2, "[1, 2]"),
          "nodes.jsonl", 2, ("expected an object with 'node_id' and 'text', got a list",)),
    Fault("node-no-text", set_line("nodes.jsonl", 4, {"node_id": 3, "label": 0}),
          "nodes.jsonl", 4, ("'text' is missing", "keys: 'node_id', 'label'")),
    Fault("node-no-id", set_line("nodes.jsonl", 2, {"id": 1, "text": "t"}),
          "nodes.jsonl", 2, ("'node_id' is missing", "keys: 'id', 'text'")),
    Fault("node-id-string", set_line("nodes.jsonl", 2, node(1, node_id="1")),
          "nodes.jsonl", 2, ("node_id must be an integer, got '1' (a string)", '"node_id": 1')),
    Fault("node-id-float", set_line("nodes.jsonl", 2, node(1, node_id=1.0)),
          "nodes.jsonl", 2, ("node_id must be an integer, got 1.0 (a number)",)),
    Fault("node-id-negative", set_line("nodes.jsonl", 1, node(0, node_id=-1)),
          "nodes.jsonl", 1, ("expected node_id 0", "got -1", "must be 0 or more")),
    Fault("node-id-duplicate", set_line("nodes.jsonl", 3, node(2, node_id=1)),
          "nodes.jsonl", 3, ("duplicate node_id 1 (first on line 2)",)),
    Fault("node-id-gap", set_line("nodes.jsonl", 3, node(2, node_id=3)),
          "nodes.jsonl", 3, ("expected node_id 2", "got 3", "node 2 is missing")),
    Fault("text-not-string", set_line("nodes.jsonl", 3, node(2, text=7)),
          "nodes.jsonl", 3, ("node 2 text must be a string, got int",)),
    Fault("text-empty", set_line("nodes.jsonl", 3, node(2, text="  ")),
          "nodes.jsonl", 3, ("node 2 has an empty text", 'non-empty "text"', "empty_text=")),
    Fault("label-string", set_line("nodes.jsonl", 5, node(4, label="1")),
          "nodes.jsonl", 5, ("node 4 label must be a non-negative integer, got '1' (a string)",)),
    Fault("label-bool", set_line("nodes.jsonl", 5, node(4, label=True)),
          "nodes.jsonl", 5, ("label must be a non-negative integer, got True (a boolean)",)),
    Fault("label-negative", set_line("nodes.jsonl", 5, node(4, label=-1)),
          "nodes.jsonl", 5, ("node 4 has negative label -1",)),
    Fault("label-outside-classes", set_line("nodes.jsonl", 5, node(4, label=42)),
          "nodes.jsonl", 5, ("node 4 has label 42, but", "g/classes.json names 3 classes",
                             "labels 0..2")),
    Fault("label-huge-without-classes", both(drop("classes.json"),
                                             set_line("nodes.jsonl", 2, node(1, label=10**30))),
          "nodes.jsonl", 2, (f"node 1 has label {10**30}, but without classes.json at most",)),
    Fault("label-names-disagree", both(drop("classes.json"),
                                       set_line("nodes.jsonl", 1, node(0, label_name="a")),
                                       set_line("nodes.jsonl", 4, node(3, label_name="b"))),
          "nodes.jsonl", 4, ("node 3 has label_name 'b' for label 0, but line 1 names it 'a'",)),
    Fault("label-missing", set_line("nodes.jsonl", 4, node(3, label=None)),
          "nodes.jsonl", 4, ("node 3 has no 'label', but node 0 (line 1) has one",)),
    Fault("label-name-not-string", set_line("nodes.jsonl", 2, node(1, label_name=1)),
          "nodes.jsonl", 2, ("node 1 label_name must be a string, got 1 (a number)",)),
    Fault("label-name-disagrees", set_line("nodes.jsonl", 2, node(1, label_name="bayes")),
          "nodes.jsonl", 2, ("label_name 'bayes', but g/classes.json names label 1 'neural'",)),
    Fault("nodes-empty", put("nodes.jsonl", b""), "nodes.jsonl", None, ("no nodes",)),
    Fault("nodes-blank", put("nodes.jsonl", b"\n \n\r\n"), "nodes.jsonl", None, ("no nodes",)),
    Fault("nodes-missing", drop("nodes.jsonl"), "", None,
          ("expected a file nodes.jsonl or nodes.jsonl.gz", "found classes.json, edges.csv")),
    Fault("nodes-directory", None, "nodes.jsonl", None, ("is a directory, expected a file",),
          dirs=("nodes.jsonl",)),
    Fault("nodes-latin1", lambda f: f.update({"nodes.jsonl": f["nodes.jsonl"].replace(
        b"message passing", b"caf\xe9")}), "nodes.jsonl", 3,
          ("not valid UTF-8 (byte 0xe9", "save the file as UTF-8")),
    Fault("nodes-utf16", lambda f: f.update({"nodes.jsonl": f["nodes.jsonl"].decode()
                                             .encode("utf-16")}),
          "nodes.jsonl", None, ("not UTF-8 text", "UTF-16")),
    Fault("nodes-gzip-without-suffix", lambda f: f.update({"nodes.jsonl": gzip.compress(
        f["nodes.jsonl"])}), "nodes.jsonl", None, ("gzip-compressed", "nodes.jsonl.gz")),
    Fault("nodes-gz-truncated", gzipped("nodes.jsonl", cut=12), "nodes.jsonl.gz", None,
          ("truncated gzip file",)),
    Fault("nodes-gz-not-gzip", gzipped("nodes.jsonl", plain=True), "nodes.jsonl.gz", None,
          ("not a gzip file",)),
    # -------------------------------------------------------------------- edges.csv
    Fault("edges-empty", put("edges.csv", b""), "edges.csv", None,
          ("empty file, expected a header 'src,dst'",)),
    Fault("edges-no-header", put("edges.csv", "0,1\n1,2\n"), "edges.csv", 1,
          ("expected header 'src,dst', got '0,1'", "insert it above")),
    Fault("edges-wrong-header", put("edges.csv", "source,target\n0,1\n"), "edges.csv", 1,
          ("expected header 'src,dst', got 'source,target'",)),
    Fault("edges-tabs", put("edges.csv", "src\tdst\n0\t1\n"), "edges.csv", 1,
          ("expected header 'src,dst'", "commas, not tabs")),
    Fault("edges-semicolons", put("edges.csv", "src,dst\n0,1\n1;2\n"), "edges.csv", 3,
          ("expected 2 columns, got 1 ('1;2')", "commas, not semicolons")),
    Fault("edges-not-integer", set_line("edges.csv", 3, "1,x"), "edges.csv", 3,
          ("node ids must be integers, got src='1', dst='x'",)),
    Fault("edges-float", set_line("edges.csv", 2, "0,1.5"), "edges.csv", 2,
          ("node ids must be integers", "dst='1.5'")),
    Fault("edges-out-of-range", set_line("edges.csv", 4, "2,6"), "edges.csv", 4,
          ("node id 6 is outside [0, 6)", "nodes.jsonl has 6 nodes")),
    Fault("edges-negative", set_line("edges.csv", 4, "-1,2"), "edges.csv", 4,
          ("node id -1 is outside [0, 6)",)),
    Fault("edges-huge-cell", set_line("edges.csv", 3, "1," + "2" * 200_000), "edges.csv", 3,
          ("malformed CSV (field larger than field limit",)),
    Fault("edges-missing", drop("edges.csv"), "", None,
          ("expected a file edges.csv or edges.csv.gz",)),
    Fault("edges-gz-bad-crc", gzipped("edges.csv", crc=True), "edges.csv.gz", None,
          ("corrupt gzip data", "CRC check failed")),
    # ----------------------------------------------------------------- classes.json
    Fault("classes-bad-json", put("classes.json", '[\n "theory",\n "neural"\n "bayes"]'),
          "classes.json", 4, ("not valid JSON", "expected a JSON list of class-name strings")),
    Fault("classes-object", put("classes.json", {"theory": 0}), "classes.json", None,
          ("expected a JSON list of class-name strings, got an object",)),
    Fault("classes-not-strings", put("classes.json", ["theory", 1, "bayes"]), "classes.json",
          None, ("entry #1 is 1 (a number)",)),
    Fault("classes-duplicate", put("classes.json", ["theory", "neural", "theory"]),
          "classes.json", None, ("class name 'theory' appears twice (entries #0 and #2)",)),
    Fault("classes-empty", put("classes.json", b""), "classes.json", None,
          ("empty file, expected a JSON list",)),
    Fault("classes-directory", None, "classes.json", None, ("is a directory",),
          dirs=("classes.json",)),
    # ------------------------------------------------------------------ splits.json
    Fault("splits-unknown-id", put("splits.json", dict(SPLITS, test=[4, 99])), "splits.json",
          None, ("split 'test' contains node id 99 outside [0, 6) (entry #1)",)),
    Fault("splits-negative-id", put("splits.json", dict(SPLITS, train=[-1])), "splits.json",
          None, ("split 'train' contains node id -1",)),
    Fault("splits-huge-id", put("splits.json", dict(SPLITS, train=[10**30])), "splits.json",
          None, (f"split 'train' contains node id {10**30}",)),
    Fault("splits-repeated-id", put("splits.json", dict(SPLITS, test=[4, 5, 4])),
          "splits.json", None, ("split 'test' lists node 4 more than once",)),
    Fault("splits-overlap", put("splits.json", dict(SPLITS, test=[3, 4, 5])), "splits.json",
          None, ("node 3 is in both split 'valid' and split 'test'", "disjoint")),
    Fault("splits-missing-valid", put("splits.json", {"train": [0], "val": [3], "test": [4]}),
          "splits.json", None, ("no split 'valid' (found 'train', 'val', 'test')",)),
    Fault("splits-string-id", put("splits.json", dict(SPLITS, train=["0"])), "splits.json",
          None, ("split 'train' must be a list of integer node ids, entry #0 is '0'",)),
    Fault("splits-not-object", put("splits.json", [[0], [1], [2]]), "splits.json", None,
          ("expected an object mapping split names to id lists, got a list",)),
    Fault("splits-bad-json", put("splits.json", '{"train": [0],\n "valid": [3],\n "test": [4,]}'),
          "splits.json", 3, ("not valid JSON",)),
]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    r"""Runs the test in :obj:`tmp_path`, so that the graph directory is given as ``g``."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def corrupt(fault: Fault) -> Path:
    files = clean_files()
    if fault.edit is not None:
        fault.edit(files)
    root = write(Path("g"), {k: v for k, v in files.items() if k not in fault.dirs})
    for name in fault.dirs:
        (root / name).mkdir()
    return root


def check_message(msg: str, fault: Fault) -> None:
    where = str(Path("g", fault.file)) if fault.file else "g"
    if fault.line is not None:
        where += f", line {fault.line}"
    assert msg.startswith(f"{where}: "), msg
    pos = 0
    for fragment in fault.cause:
        found = msg.find(fragment, pos)
        assert found >= 0, f"{fragment!r} not in {msg!r}"
        pos = found + len(fragment)
    assert "\n" not in msg and not re.search(r"(\S+): \1:", msg), msg


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_fault_names_file_line_and_cause(in_tmp, fault):
    root = corrupt(fault)
    with pytest.raises(DataError) as e:
        read_directory(root)
    check_message(str(e.value), fault)


def test_faults_are_distinct():
    assert len({f.id for f in FAULTS}) == len(FAULTS) >= 22


def test_unreadable_file(in_tmp, monkeypatch):
    root = write(Path("g"), clean_files())
    path = root / "edges.csv"
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: fail the open as it fails for others
        def guarded_open(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return open(file, *args, **kwargs)

        monkeypatch.setattr(lines, "open", guarded_open, raising=False)
    try:
        with pytest.raises(DataError) as e:
            read_directory(root)
    finally:
        path.chmod(0o644)
    assert str(e.value) == "g/edges.csv: permission denied; make the file readable (chmod a+r " \
        "'g/edges.csv')"


@pytest.mark.parametrize(("make", "what"), [(None, "it does not exist"),
                                             ("file", "it is a file")])
def test_root_is_not_a_directory(in_tmp, make, what):
    if make:
        Path("g").write_text("not a directory")
    with pytest.raises(DataError, match=f"^g: not a directory \\({what}\\); expected a directory"):
        read_directory("g")


# ---------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("fault", ["label-outside-classes", "text-empty", "nodes-gz-truncated",
                                   "edges-tabs", "splits-unknown-id"])
@pytest.mark.parametrize("command", ["data", "run"])
def test_cli_prints_one_line_error(in_tmp, capsys, fault, command):
    fault = next(f for f in FAULTS if f.id == fault)
    root = corrupt(fault)
    argv = (["data", "info", str(root), "--offline"] if command == "data"
            else ["run", "--dataset", str(root), "--out-dir", "out", "--method", "shallow"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("leading: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    check_message(err.removeprefix("leading: error: ").rstrip("\n"), fault)


# ---------------------------------------------------------------------- valid variants
def crlf(files: Files) -> None:
    for k in files:
        files[k] = files[k].replace(b"\n", b"\r\n")


def bom(files: Files) -> None:
    for k in files:
        files[k] = b"\xef\xbb\xbf" + files[k]


def extra_keys(files: Files) -> None:
    rows = [json.dumps(dict(node(i), year=2000 + i, label_name=CLASSES[LABELS[i]], meta={"a": []}))
            for i in range(len(TEXTS))]
    files["nodes.jsonl"] = ("\n".join(rows) + "\n").encode()


def extra_columns(files: Files) -> None:
    files["edges.csv"] = ("src,dst,weight\n" + "".join(f"{u},{v},0.5\n" for u, v in EDGES)).encode()


def blank_lines(files: Files) -> None:
    files["nodes.jsonl"] = b"\n" + files["nodes.jsonl"].replace(b"}\n", b"}\n  \n") + b"\n\n"
    files["edges.csv"] += b"\n \n,\n\n"


def no_final_newline(files: Files) -> None:
    for k in ("nodes.jsonl", "edges.csv"):
        files[k] = files[k].rstrip(b"\n")


def spaces_and_quotes(files: Files) -> None:
    files["edges.csv"] = ("src , dst\n" + "".join(f' {u} ,"{v}"\n' for u, v in EDGES)).encode()


def both_directions(files: Files) -> None:
    files["edges.csv"] += b"".join(f"{v},{u}\n{u},{u}\n".encode() for u, v in EDGES)


def pretty_json(files: Files) -> None:
    files["classes.json"] = json.dumps(CLASSES, indent=2).encode()
    files["splits.json"] = json.dumps(SPLITS, indent=2).encode()


def gzip_all(files: Files) -> None:
    gzipped("nodes.jsonl")(files)
    gzipped("edges.csv")(files)


def gzip_bom_crlf(files: Files) -> None:
    crlf(files)
    bom(files)
    gzip_all(files)


VARIANTS = [crlf, bom, extra_keys, extra_columns, blank_lines, no_final_newline,
            spaces_and_quotes, both_directions, pretty_json, gzip_all, gzip_bom_crlf]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.__name__ for v in VARIANTS])
def test_valid_variant_reads_as_the_clean_graph(tmp_path, variant):
    clean = read_directory(write(tmp_path / "clean", clean_files()), name="g")
    files = clean_files()
    variant(files)
    g = read_directory(write(tmp_path / "variant", files), name="g")
    assert g.texts == clean.texts == TEXTS
    assert torch.equal(g.edge_index, clean.edge_index) and clean.num_edges == len(EDGES)
    assert torch.equal(g.y, clean.y) and g.y.tolist() == LABELS
    assert g.class_names == clean.class_names == CLASSES
    assert {k: v.tolist() for k, v in g.splits.items()} == SPLITS


def test_label_names_without_classes_json(tmp_path):
    files = clean_files()
    extra_keys(files)
    del files["classes.json"]
    g = read_directory(write(tmp_path / "g", files))
    assert g.class_names == CLASSES


def test_empty_text_placeholder_from_python(tmp_path):
    files = clean_files()
    set_line("nodes.jsonl", 3, node(2, text=""))(files)
    g = read_directory(write(tmp_path / "g", files), empty_text="[none]")
    assert g.texts[2] == "[none]"
