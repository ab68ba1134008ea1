r"""Open Graph Benchmark datasets with raw text: ``ogbn-arxiv``, ``ogbn-products`` and
``ogbl-citation2``.

The graph, labels and splits are read from OGB's released raw files (the layout that the
``arxiv.zip``, ``products.zip`` and ``citation-v2.zip`` archives unpack to); the node texts come
from a separate file mapped to node ids through OGB's ``mapping/`` tables. Expected files, URLs
and text formats are listed in ``leading/data/datasets/README.md``.

Nothing here needs :obj:`ogb`, :obj:`pandas` or :obj:`torch_geometric`: the large integer tables
(``edge.csv.gz`` has 61.9M rows for ``ogbn-products``) are parsed block by block with numpy, with
an exact file/line error for any malformed row.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from leading.data.datasets import data_dir, register
from leading.data.graph import TextAttributedGraph
from leading.errors import DataError

__all__ = [
    "load_ogbn_arxiv",
    "load_ogbn_products",
    "load_ogbl_citation2",
    "read_int_csv",
    "read_titleabs",
]

ARXIV_URL = "https://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip"
ARXIV_TEXT_URL = "https://snap.stanford.edu/ogb/data/misc/ogbn_arxiv/titleabs.tsv.gz"
PRODUCTS_URL = "https://snap.stanford.edu/ogb/data/nodeproppred/products.zip"
PRODUCTS_TEXT_URL = "http://manikvarma.org/downloads/XC/XMLRepository.html"
CITATION2_URL = "https://snap.stanford.edu/ogb/data/linkproppred/citation-v2.zip"
CITATION2_TEXT_HINT = (
    "a tab-separated file 'paper id<TAB>title<TAB>abstract' (one line per paper, MAG paper ids "
    "as in mapping/nodeidx2paperid.csv.gz), e.g. built from the Microsoft Academic Graph or "
    "OpenAlex (whose works carry the MAG id as ids.mag)"
)

TIMEOUT_S = 20.0
_BLOCK_BYTES = 1 << 26  # parse integer tables in ~64 MB blocks


# ----------------------------------------------------------------------------- files & download
@dataclass(frozen=True)
class Source:
    r"""Where a group of required files comes from.

    Args:
        url (str, optional): Canonical public URL, fetched by :obj:`fetch`.
        fetch (Callable, optional): ``fetch(url)`` downloads and installs the files; :obj:`None`
            if they cannot be fetched automatically.
        note (str): How the download becomes the expected layout, or, without :obj:`fetch`, what
            to obtain by hand and where (shown in errors).
    """

    url: str | None = None
    fetch: Callable[[str], None] | None = None
    note: str = ""


@dataclass(frozen=True)
class Required:
    r"""A required file: the first existing of :obj:`paths` is used (with :obj:`gz`, each is
    also tried with ``.gz`` appended); :obj:`paths[0]` is where it should go."""

    paths: tuple[Path, ...]
    source: Source
    gz: bool = True

    def find(self) -> Path | None:
        for p in self.paths:
            gz = self.gz and p.suffix != ".gz"
            for cand in (p, p.with_name(p.name + ".gz")) if gz else (p,):
                if cand.is_file():
                    return cand
        return None


def ensure_files(name: str, required: Sequence[Required], download: bool) -> list[Path]:
    r"""Returns the path of each required file, downloading missing ones when :obj:`download`
    is set. Raises :class:`DataError` naming every missing file, its URL and its target path.

    Args:
        name (str): Dataset name for messages.
        required (Sequence[Required]): The files.
        download (bool): Whether missing files may be fetched from their canonical URLs.
    """
    missing = [r for r in required if r.find() is None]
    failures: list[str] = []
    if missing and download:
        tried: set[str] = set()
        for r in missing:
            src = r.source
            if src.fetch is None or src.url is None or src.url in tried:
                continue
            tried.add(src.url)
            try:
                src.fetch(src.url)
            except Exception as e:  # any network, HTTP, disk or archive failure
                failures.append(f"{src.url}: {type(e).__name__}: {e}")
        missing = [r for r in required if r.find() is None]
    if missing:
        why = "" if download else " (download=False, so nothing was fetched)"
        lines = [f"{name}: {len(missing)} required file(s) not found{why}:"]
        groups: dict[Source, list[Required]] = {}
        for r in missing:
            groups.setdefault(r.source, []).append(r)
        for src, reqs in groups.items():
            if src.fetch is not None:
                lines.append(f"  from {src.url}" + (f" ({src.note})" if src.note else "") + ":")
            else:
                lines.append(f"  not downloadable automatically; {src.note}:")
            lines.extend(f"    - {r.paths[0]}" for r in reqs)
        if failures:
            lines.append("download failed (no network?):")
            lines.extend(f"  {f}" for f in failures)
        lines.append("Place each file at the path shown (text files may also be gzipped, as .gz).")
        raise DataError("\n".join(lines))
    return [r.find() for r in required]  # type: ignore[misc]


def download_url(url: str, dest: Path, timeout: float = TIMEOUT_S) -> Path:
    r"""Downloads :obj:`url` to :obj:`dest` (via a temporary file, with a tqdm progress bar).

    Args:
        url (str): The URL.
        dest (Path): Target file; its folder is created.
        timeout (float): Socket timeout in seconds.
    """
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as f:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def zip_fetcher(root: Path, inner: str, target: Path, archive: str) -> Callable[[str], None]:
    r"""Returns ``fetch(url)``: downloads a zip to ``root/archive``, unpacks it and moves its
    folder :obj:`inner` to :obj:`target` (merging: files already present are kept)."""

    def fetch(url: str) -> None:
        path = download_url(url, root / archive)
        try:
            with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
                with zipfile.ZipFile(path) as z:
                    z.extractall(tmp)
                src = Path(tmp) / inner
                if not src.is_dir():
                    raise DataError(f"{path}: expected a folder {inner}/ inside the archive")
                for f in sorted(src.rglob("*")):
                    dst = target / f.relative_to(src)
                    if f.is_file() and not dst.exists():
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.move(str(f), dst)
        finally:
            path.unlink(missing_ok=True)

    return fetch


def file_fetcher(dest: Path) -> Callable[[str], None]:
    def fetch(url: str) -> None:
        download_url(url, dest)

    return fetch


def _dataset_dir(root: str | Path | None, names: Sequence[str]) -> Path:
    r"""``root/names[0]``, or the first ``root/name`` that exists (OGB's archives unpack to e.g.
    ``arxiv/``, which OGB's own loader renames to ``ogbn_arxiv/``)."""
    base = data_dir(root)
    for n in names:
        if (base / n).is_dir():
            return base / n
    return base / names[0]


# ------------------------------------------------------------------------------ integer tables
def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # type: ignore


def _blocks(path: Path) -> Iterator[bytes]:
    r"""Yields the file's bytes in blocks that end at a line break (the last one gets one);
    blank lines at the end of the file are dropped."""
    try:
        with _open_binary(path) as f:
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


def read_bytes(path: str | Path) -> bytes:
    r"""The whole file (``.gz`` is decompressed); read failures become :class:`DataError`."""
    path = Path(path)
    try:
        with _open_binary(path) as f:
            return f.read()
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


def _check_range(values: np.ndarray, n: int, path: Path, what: str, line0: int = 1) -> None:
    r"""Every entry of :obj:`values` (rows = file lines from :obj:`line0`) lies in ``[0, n)``."""
    bad = (values < 0) | (values >= n)
    if bool(bad.any()):
        row = int(np.flatnonzero(bad.reshape(len(values), -1).any(1))[0])
        raise DataError(
            f"{path}, line {row + line0}: {what} {values[row].tolist()} outside [0, {n})"
        )


def _read_index_column(path: Path, n: int | None, header: str, what: str) -> np.ndarray:
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


def _read_labels(path: Path) -> np.ndarray:
    return read_int_csv(path, 1)[:, 0]


def _read_split(path: Path, n: int) -> Tensor:
    idx = read_int_csv(path, 1)[:, 0]
    _check_range(idx, n, path, "node id")
    uniq, first = np.unique(idx, return_index=True)
    if uniq.size != idx.size:
        seen = np.zeros(idx.size, dtype=bool)
        seen[first] = True
        row = int(np.flatnonzero(~seen)[0])
        raise DataError(f"{path}, line {row + 1}: node {int(idx[row])} is listed twice")
    return torch.from_numpy(idx)


def _read_edges(path: Path, n: int) -> Tensor:
    edges = read_int_csv(path, 2)
    _check_range(edges, n, path, "edge")
    return torch.from_numpy(edges).t()


# --------------------------------------------------------------------------------- text tables
def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    r"""``(line_number, line)`` pairs, split on ``\n`` only (a stray ``\r`` inside an abstract
    does not break a line), without the line break, UTF-8 (a leading BOM is dropped)."""
    try:
        raw = _open_binary(path)
        with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as f:
            for lineno, line in enumerate(f, start=1):
                if lineno == 1:
                    line = line.lstrip("\ufeff")
                yield lineno, line.rstrip("\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: unreadable or truncated file ({e})") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid UTF-8 text ({e})") from e


def _read_class_names(path: Path, header: str) -> list[str]:
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


def _paper_index(paper_ids: np.ndarray, path: Path) -> dict[int, int]:
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


def join_text(title: str | None, body: str | None) -> str:
    r"""``"<title>: <body>"`` (the form of the packaged Cora), dropping an empty part."""
    parts = [p.strip() for p in (title, body) if isinstance(p, str) and p.strip()]
    return ": ".join(parts)


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


def _build(name: str, folder: Path, **kwargs) -> TextAttributedGraph:
    try:
        return TextAttributedGraph(name=name, **kwargs)
    except DataError as e:
        raise DataError(f"{folder}: {e}") from e


# ------------------------------------------------------------------------------------- loaders
def _ogbn(
    name: str,
    root: str | Path | None,
    download: bool,
    dirs: tuple[str, str],
    url: str,
    split: str,
    mapping: str,
    label_map: tuple[str, str],
    text: list[Required],
) -> tuple[Path, list[Path], np.ndarray, list[str], dict[str, Tensor], Tensor]:
    folder = _dataset_dir(root, dirs)
    src = Source(
        url,
        zip_fetcher(folder.parent, dirs[1], folder, url.rsplit("/", 1)[-1]),
        f"unzip it in {folder.parent}; its folder {dirs[1]}/ becomes {folder}/",
    )
    req = [
        Required((folder / "raw" / "edge.csv.gz",), src),
        Required((folder / "raw" / "node-label.csv.gz",), src),
        *(Required((folder / "split" / split / f"{k}.csv.gz",), src) for k in SPLITS),
        Required((folder / "mapping" / mapping,), src),
        Required((folder / "mapping" / label_map[0],), src),
    ]
    paths = ensure_files(name, req + text, download)
    edge_p, label_p, tr_p, va_p, te_p, map_p, cls_p = paths[:7]
    y = _read_labels(label_p)
    n = len(y)
    class_names = _read_class_names(cls_p, label_map[1])
    _check_range(y, len(class_names), label_p, f"label (classes from {cls_p.name})")
    splits = {k: _read_split(p, n) for k, p in zip(SPLITS, (tr_p, va_p, te_p), strict=True)}
    edge_index = _read_edges(edge_p, n)
    _check_num_nodes(folder, n)
    return map_p, paths[7:], y, class_names, splits, edge_index


SPLITS = ("train", "valid", "test")


def _check_num_nodes(folder: Path, n: int) -> None:
    path = folder / "raw" / "num-node-list.csv.gz"
    if path.is_file():
        counts = read_int_csv(path, 1)[:, 0]
        if counts.size != 1 or int(counts[0]) != n:
            raise DataError(f"{path}: says {counts.tolist()} node(s), but the data has {n}")


@register("ogbn-arxiv")
def load_ogbn_arxiv(
    root: str | Path | None = None, download: bool = True, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Loads ``ogbn-arxiv`` (169,343 arXiv CS papers, 1,166,243 citations = 1,157,799
    undirected edges, 40 subject classes) with title and abstract texts.

    Files (under ``root/ogbn_arxiv/``, or ``root/arxiv/`` as the zip unpacks): OGB's
    ``raw/edge.csv.gz``, ``raw/node-label.csv.gz``, ``split/time/{train,valid,test}.csv.gz``,
    ``mapping/nodeidx2paperid.csv.gz``, ``mapping/labelidx2arxivcategeory.csv.gz`` (sic), and
    ``titleabs.tsv.gz`` (or ``titleabs.tsv``, also accepted in ``raw/``). The text of a node is
    ``"<title>: <abstract>"``; the splits are OGB's time split; class names are the arXiv
    categories as OGB writes them (``"arxiv cs na"``, ...).

    Args:
        root (str or Path, optional): Data directory (default: :func:`data_dir`).
        download (bool): Whether missing files may be fetched (:obj:`ARXIV_URL`,
            :obj:`ARXIV_TEXT_URL`).
        empty_text (str, optional): Placeholder text for papers with no (or an empty) title and
            abstract; by default such papers are an error.
    """
    folder = _dataset_dir(root, ("ogbn_arxiv", "arxiv"))
    text_src = Source(ARXIV_TEXT_URL, file_fetcher(folder / "titleabs.tsv.gz"))
    text_req = Required(
        (folder / "titleabs.tsv.gz", folder / "titleabs.tsv", folder / "raw" / "titleabs.tsv"),
        text_src,
    )
    map_p, (text_p,), y, class_names, splits, edge_index = _ogbn(
        "ogbn-arxiv",
        root,
        download,
        ("ogbn_arxiv", "arxiv"),
        ARXIV_URL,
        "time",
        "nodeidx2paperid.csv.gz",
        ("labelidx2arxivcategeory.csv.gz", "label idx,arxiv category"),
        [text_req],
    )
    n = len(y)
    paper_ids = _read_index_column(map_p, n, "node idx,paper id", "node idx")
    texts = read_titleabs(text_p, _paper_index(paper_ids, map_p), n)
    texts = fill_texts(texts, paper_ids.tolist(), "paper id", str(text_p), empty_text)
    return _build(
        "ogbn-arxiv",
        folder,
        texts=texts,
        edge_index=edge_index,
        y=torch.from_numpy(y),
        class_names=class_names,
        splits=splits,
        empty_text=empty_text,
    )


def _read_asins(path: Path, n: int) -> list[str]:
    r"""Reads OGB's ``mapping/nodeidx2asin.csv.gz`` (header ``node idx,asin``)."""
    asins: list[str] = []
    for lineno, line in text_lines(path):
        if lineno == 1:
            if line.split(",")[0].strip().isdigit():
                raise DataError(f"{path}, line 1: expected a header line 'node idx,asin'")
            continue
        if not line.strip():
            continue
        idx, sep, asin = line.partition(",")
        asin = asin.strip().strip('"')
        if not sep or not asin or "," in asin:
            raise DataError(f"{path}, line {lineno}: expected 2 columns 'node idx,asin'")
        if idx.strip() != str(len(asins)):
            raise DataError(f"{path}, line {lineno}: expected node idx {len(asins)}, got {idx!r}")
        asins.append(asin)
    if len(asins) != n:
        raise DataError(
            f"{path}: expected {n} rows after the header (one per node), got {len(asins)}"
        )
    return asins


def read_amazon_json(
    paths: Sequence[Path], index: dict[str, int], num_nodes: int
) -> list[str | None]:
    r"""Reads Amazon-3M raw JSON-lines files (``{"uid": ASIN, "title": ..., "content": ...}``
    per line, as in the Extreme Classification Repository's ``Amazon-3M.raw``) and returns the
    text ``"<title>: <content>"`` of each node whose ASIN is in :obj:`index` (first entry wins).

    Args:
        paths (Sequence[Path]): The files (``.gz`` is decompressed).
        index (dict): ``ASIN -> node id``.
        num_nodes (int): Number of nodes.
    """
    texts: list[str | None] = [None] * num_nodes
    for path in paths:
        for lineno, line in text_lines(Path(path)):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {lineno}: not valid JSON ({e.msg})") from None
            uid = obj.get("uid", obj.get("asin")) if isinstance(obj, dict) else None
            if not isinstance(uid, str):
                raise DataError(f"{path}, line {lineno}: expected an object with a 'uid' string")
            node = index.get(uid)
            if node is None or texts[node] is not None:
                continue
            title, content = obj.get("title"), obj.get("content")
            for key, v in (("title", title), ("content", content)):
                if v is not None and not isinstance(v, str):
                    raise DataError(f"{path}, line {lineno}: '{key}' must be a string")
            texts[node] = join_text(title, content)
    return texts


@register("ogbn-products")
def load_ogbn_products(
    root: str | Path | None = None, download: bool = True, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Loads ``ogbn-products`` (2,449,029 Amazon products, 61,859,140 undirected co-purchase
    edges, 47 categories) with product title and description texts.

    Files (under ``root/ogbn_products/``, or ``root/products/`` as the zip unpacks): OGB's
    ``raw/edge.csv.gz``, ``raw/node-label.csv.gz``,
    ``split/sales_ranking/{train,valid,test}.csv.gz``, ``mapping/nodeidx2asin.csv.gz``,
    ``mapping/labelidx2productcategory.csv.gz``; and the text, which OGB does not ship:
    ``Amazon-3M.raw/trn.json.gz`` and ``Amazon-3M.raw/tst.json.gz`` (or ``.json``) from the
    Extreme Classification Repository's ``Amazon-3M.raw.zip``, JSON lines keyed by ASIN
    (``uid``). The text of a node is ``"<title>: <content>"``.

    Args:
        root (str or Path, optional): Data directory (default: :func:`data_dir`).
        download (bool): Whether the OGB archive may be fetched (the text cannot be).
        empty_text (str, optional): Placeholder for products with no (or an empty) title and
            description; by default such products are an error.
    """
    folder = _dataset_dir(root, ("ogbn_products", "products"))
    text_src = Source(
        note=f"download Amazon-3M.raw.zip (the 'Amazon-3M' raw text, JSON lines keyed by ASIN) "
        f"from the Extreme Classification Repository, {PRODUCTS_TEXT_URL}, and unzip it in "
        f"{folder}, so that Amazon-3M.raw/trn.json.gz and Amazon-3M.raw/tst.json.gz (or the "
        "unzipped .json files) lie there"
    )
    text_req = [
        Required(
            (folder / "Amazon-3M.raw" / f"{s}.json.gz", folder / "Amazon-3M.raw" / f"{s}.json"),
            text_src,
        )
        for s in ("trn", "tst")
    ]
    map_p, text_ps, y, class_names, splits, edge_index = _ogbn(
        "ogbn-products",
        root,
        download,
        ("ogbn_products", "products"),
        PRODUCTS_URL,
        "sales_ranking",
        "nodeidx2asin.csv.gz",
        ("labelidx2productcategory.csv.gz", "label idx,product category"),
        text_req,
    )
    n = len(y)
    asins = _read_asins(map_p, n)
    index: dict[str, int] = {}
    for node, a in enumerate(asins):
        if a in index:
            raise DataError(
                f"{map_p}, line {node + 2}: ASIN {a} is mapped to nodes {index[a]} and {node}"
            )
        index[a] = node
    texts = read_amazon_json(text_ps, index, n)
    texts = fill_texts(texts, asins, "ASIN", " and ".join(map(str, text_ps)), empty_text)
    return _build(
        "ogbn-products",
        folder,
        texts=texts,
        edge_index=edge_index,
        y=torch.from_numpy(y),
        class_names=class_names,
        splits=splits,
        empty_text=empty_text,
    )


# ------------------------------------------------------------------------------ ogbl-citation2
def _numpy_safe_globals() -> list:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    dtypes = {type(np.dtype(c)) for c in "?bBhHiIlLqQefd"}
    return [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        *dtypes,
    ]


def load_pt_split(path: str | Path) -> dict:
    r"""Loads one of OGB's ``split/*/{train,valid,test}.pt`` files with ``weights_only=True``.
    Tensors load as usual; numpy arrays (as written by OGB's numpy-based tooling) are allowed by
    whitelisting numpy's array-reconstruction globals only, so no arbitrary code can run.

    Args:
        path (str or Path): The file.
    """
    path = Path(path)
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            if not hasattr(torch.serialization, "safe_globals"):
                raise
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError) as e:
        raise DataError(
            f"{path}: not a loadable torch-saved split ({type(e).__name__}: {e})"
        ) from e


def _edge_split(path: Path, n: int, negatives: bool) -> dict[str, Tensor]:
    raw = load_pt_split(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a dict, got {type(raw).__name__}")
    keys = ["source_node", "target_node"] + (["target_node_neg"] if negatives else [])
    out: dict[str, Tensor] = {}
    for k in keys:
        if k not in raw:
            raise DataError(f"{path}: missing key {k!r} (have {sorted(raw)})")
        v = torch.as_tensor(raw[k])
        if v.is_floating_point() or v.dtype == torch.bool or v.is_complex():
            raise DataError(f"{path}: {k!r} must hold integer node ids, got {v.dtype}")
        v = v.long()
        want = 2 if k == "target_node_neg" else 1
        if v.dim() != want:
            raise DataError(f"{path}: {k!r} must be {want}-D, got shape {tuple(v.shape)}")
        if v.numel() and (int(v.min()) < 0 or int(v.max()) >= n):
            pos = int(((v < 0) | (v >= n)).reshape(v.size(0), -1).any(1).nonzero()[0])
            raise DataError(f"{path}: {k!r}[{pos}] = {v[pos].tolist()} is outside [0, {n})")
        out[k] = v
    m = out["source_node"].numel()
    for k, v in out.items():
        if v.size(0) != m:
            raise DataError(f"{path}: {k!r} has {v.size(0)} rows, 'source_node' has {m}")
    return out


@register("ogbl-citation2")
def load_ogbl_citation2(
    root: str | Path | None = None, download: bool = True, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Loads ``ogbl-citation2`` (2,927,963 MAG papers, 30,387,995 training citations) with
    title and abstract texts and OGB's link-prediction split.

    Files (under ``root/ogbl_citation2/``, or ``root/citation-v2/`` as the zip unpacks): OGB's
    ``raw/edge.csv.gz``, ``split/time/{train,valid,test}.pt`` (dicts with ``source_node``,
    ``target_node`` and, for valid/test, ``target_node_neg`` of shape ``[n, 1000]``),
    ``mapping/nodeidx2paperid.csv.gz``; and the text, which OGB does not ship:
    ``titleabs.tsv`` (or ``.tsv.gz``), ``paper id<TAB>title<TAB>abstract`` per line, keyed by
    MAG paper id. The graph is unlabelled (:obj:`y` is :obj:`None`); the link splits are in
    :attr:`edge_splits` and the edges of ``raw/edge.csv.gz`` form the (training) graph.

    Args:
        root (str or Path, optional): Data directory (default: :func:`data_dir`).
        download (bool): Whether the OGB archive may be fetched (the text cannot be).
        empty_text (str, optional): Placeholder for papers with no (or an empty) title and
            abstract; by default such papers are an error.
    """
    folder = _dataset_dir(root, ("ogbl_citation2", "citation-v2"))
    src = Source(
        CITATION2_URL,
        zip_fetcher(folder.parent, "citation-v2", folder, "citation-v2.zip"),
        f"unzip it in {folder.parent}; its folder citation-v2/ becomes {folder}/",
    )
    text_src = Source(note=f"provide {CITATION2_TEXT_HINT}, at {folder / 'titleabs.tsv'}")
    req = [
        Required((folder / "raw" / "edge.csv.gz",), src),
        *(Required((folder / "split" / "time" / f"{k}.pt",), src, gz=False) for k in SPLITS),
        Required((folder / "mapping" / "nodeidx2paperid.csv.gz",), src),
        Required((folder / "titleabs.tsv", folder / "raw" / "titleabs.tsv"), text_src),
    ]
    edge_p, tr_p, va_p, te_p, map_p, text_p = ensure_files("ogbl-citation2", req, download)
    paper_ids = _read_index_column(map_p, None, "node idx,paper id", "node idx")
    n = len(paper_ids)
    _check_num_nodes(folder, n)
    edge_index = _read_edges(edge_p, n)
    edge_splits = {
        k: _edge_split(p, n, negatives=k != "train")
        for k, p in zip(SPLITS, (tr_p, va_p, te_p), strict=True)
    }
    texts = read_titleabs(text_p, _paper_index(paper_ids, map_p), n)
    texts = fill_texts(texts, paper_ids.tolist(), "paper id", str(text_p), empty_text)
    return _build(
        "ogbl-citation2",
        folder,
        texts=texts,
        edge_index=edge_index,
        empty_text=empty_text,
        edge_splits=edge_splits,
    )
