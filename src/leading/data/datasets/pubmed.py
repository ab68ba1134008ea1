r"""PubMed-Diabetes with titles and abstracts (19,717 papers, 44,324 undirected citation edges,
3 classes), in the form TAPE (He et al., 2024, ``XiaoxinHe/TAPE``) distributes it.

TAPE's ``PubMed_orig`` folder holds the LINQS files ``data/Pubmed-Diabetes.NODE.paper.tab`` and
``data/Pubmed-Diabetes.DIRECTED.cites.tab`` plus ``pubmed.json``, a JSON list of PubMed records
(``"PMID"``, ``"TI"`` title, ``"AB"`` abstract, ...). Expected files and URLs are listed in
``leading/data/datasets/README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch

from leading.data.datasets.download import Required, Source, ensure_files, zip_fetcher
from leading.data.datasets.registry import data_dir, register
from leading.data.datasets.text_files import fill_texts, join_text, read_bytes, text_lines
from leading.data.graph import TextAttributedGraph
from leading.errors import DataError

__all__ = ["load_pubmed", "read_pubmed_nodes", "read_pubmed_cites", "read_pubmed_json", "CLASSES"]

#: TAPE's ``PubMed_orig`` archive (Google Drive file linked from the TAPE README).
PUBMED_URL = "https://drive.google.com/uc?export=download&id=1sYZX-jP6H8OkopVa9cp8-KXdEti5ki_W"
#: The LINQS original (the two ``.tab`` files only, no text).
LINQS_URL = "https://linqs-data.soe.ucsc.edu/public/Pubmed-Diabetes.tgz"

#: Class names of ``label=1,2,3`` in the ``.tab`` file, i.e. of labels 0, 1, 2.
CLASSES = [
    "Diabetes Mellitus Experimental",
    "Diabetes Mellitus Type 1",
    "Diabetes Mellitus Type 2",
]

NODE_FILE = "Pubmed-Diabetes.NODE.paper.tab"
CITES_FILE = "Pubmed-Diabetes.DIRECTED.cites.tab"
TEXT_FILE = "pubmed.json"


def _header(lines: Iterator[tuple[int, str]], path: Path, expected: str) -> None:
    r"""Consumes and checks the first line of a LINQS ``.tab`` file, then skips the second."""
    first = next(lines, None)
    if first is None or first[1].split("\t")[0].strip() != expected:
        got = None if first is None else first[1][:40]
        raise DataError(
            f"{path}, line 1: expected the LINQS header '{expected}\\t...', got {got!r}"
        )
    if next(lines, None) is None:
        raise DataError(f"{path}: expected two header lines, the file ends after one")


def read_pubmed_nodes(path: str | Path) -> tuple[list[str], list[int]]:
    r"""Reads ``Pubmed-Diabetes.NODE.paper.tab``: two header lines (``NODE\tpaper`` and the
    feature declarations), then one paper per line, ``PMID\tlabel=K\tw-...=...\t...\tsummary=...``
    with :obj:`K` in 1..3 (the TF-IDF features are ignored).

    Args:
        path (str or Path): The file.

    Returns:
        tuple: The PMIDs in file order (node :obj:`i` is line :obj:`i + 3`) and the labels 0..2.
    """
    path = Path(path)
    lines = text_lines(path)
    _header(lines, path, "NODE")
    pmids: list[str] = []
    labels: list[int] = []
    seen: dict[str, int] = {}
    for lineno, line in lines:
        if not line.strip():
            continue
        items = line.strip().split("\t")
        if len(items) < 2:
            raise DataError(f"{path}, line {lineno}: expected 'PMID<TAB>label=K<TAB>...'")
        pmid, label = items[0].strip(), items[1].strip()
        if not pmid.isdigit():
            raise DataError(f"{path}, line {lineno}: PMID must be an integer, got {pmid!r}")
        if pmid in seen:
            raise DataError(f"{path}, line {lineno}: PMID {pmid} repeats line {seen[pmid]}")
        key, _, value = label.partition("=")
        if key != "label" or not value.strip().lstrip("-").isdigit():
            raise DataError(f"{path}, line {lineno}: expected 'label=K' in column 2, got {label!r}")
        k = int(value)
        if not 1 <= k <= len(CLASSES):
            raise DataError(
                f"{path}, line {lineno}: label {k} of PMID {pmid} is outside 1..{len(CLASSES)}"
            )
        seen[pmid] = lineno
        pmids.append(pmid)
        labels.append(k - 1)
    if not pmids:
        raise DataError(f"{path}: no papers")
    return pmids, labels


def read_pubmed_cites(path: str | Path, index: dict[str, int]) -> torch.Tensor:
    r"""Reads ``Pubmed-Diabetes.DIRECTED.cites.tab``: two header lines (``DIRECTED\tcites``,
    ``NO_FEATURES``), then ``edge_id\tpaper:PMID\t|\tpaper:PMID`` per citation.

    Args:
        path (str or Path): The file.
        index (dict): ``PMID -> node id``; an edge to an unknown PMID is an error.

    Returns:
        Tensor: :obj:`[2, E]` node ids, in file order and direction.
    """
    path = Path(path)
    lines = text_lines(path)
    _header(lines, path, "DIRECTED")
    src: list[int] = []
    dst: list[int] = []
    for lineno, line in lines:
        if not line.strip():
            continue
        items = [s.strip() for s in line.strip().split("\t")]
        if len(items) != 4 or items[2] != "|":
            raise DataError(
                f"{path}, line {lineno}: expected 4 columns 'edge_id<TAB>paper:PMID<TAB>|<TAB>"
                f"paper:PMID', got {len(items)}"
            )
        pair = []
        for item in (items[1], items[3]):
            kind, _, pmid = item.partition(":")
            if kind != "paper" or not pmid.isdigit():
                raise DataError(f"{path}, line {lineno}: expected 'paper:PMID', got {item!r}")
            if pmid not in index:
                raise DataError(f"{path}, line {lineno}: PMID {pmid} is not in {NODE_FILE}")
            pair.append(index[pmid])
        src.append(pair[0])
        dst.append(pair[1])
    return torch.tensor([src, dst], dtype=torch.long).view(2, -1)


def _field(record: dict, key: str, path: Path, i: int) -> str | None:
    v = record.get(key)
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(s, str) for s in v):
        return " ".join(v)
    raise DataError(f"{path}: record {i} field {key!r} must be a string, got {type(v).__name__}")


def read_pubmed_json(path: str | Path, pmids: list[str]) -> list[str | None]:
    r"""Reads TAPE's ``pubmed.json`` (a JSON list of records with ``"PMID"``, ``"TI"`` title
    and ``"AB"`` abstract) and returns ``"<title>: <abstract>"`` per node.

    A node takes the record with its PMID; a record without ``"PMID"`` stands for the node at
    the same position when the list has one record per node (TAPE aligns records to the
    ``.tab`` order). :obj:`None` marks a node without text.

    Args:
        path (str or Path): The file.
        pmids (list[str]): The PMID of each node, in node order.
    """
    path = Path(path)
    try:
        records = json.loads(read_bytes(path).decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not valid UTF-8 text ({e})") from e
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from e
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
    by_pmid: dict[str, int] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"{path}: record {i} must be an object, got {type(rec).__name__}")
        pmid = rec.get("PMID")
        if pmid is not None:
            by_pmid.setdefault(str(pmid).strip(), i)
    aligned = len(records) == len(pmids)
    texts: list[str | None] = []
    for node, pmid in enumerate(pmids):
        i = by_pmid.get(pmid)
        if i is None and aligned and records[node].get("PMID") is None:
            i = node
        if i is None:
            texts.append(None)
            continue
        text = join_text(_field(records[i], "TI", path, i), _field(records[i], "AB", path, i))
        texts.append(text or None)
    return texts


@register("pubmed")
def load_pubmed(
    root: str | Path | None = None, download: bool = True, empty_text: str | None = None
) -> TextAttributedGraph:
    r"""Loads PubMed-Diabetes with titles and abstracts, TAPE's version.

    Files, under ``root/pubmed/PubMed_orig/`` as TAPE's archive unpacks (each is also looked for
    directly in ``root/pubmed/``, and may be gzipped): ``data/Pubmed-Diabetes.NODE.paper.tab``,
    ``data/Pubmed-Diabetes.DIRECTED.cites.tab`` and ``pubmed.json``. Node :obj:`i` is the
    :obj:`i`-th paper of the ``.tab`` file; its text is ``"<title>: <abstract>"``; labels
    ``label=1,2,3`` become 0, 1, 2 (:data:`CLASSES`). There is no canonical split.

    Args:
        root (str or Path, optional): Data directory (default: :func:`data_dir`).
        download (bool): Whether missing files may be fetched (:data:`PUBMED_URL`).
        empty_text (str, optional): Placeholder for papers with no record, or no title and no
            abstract, in ``pubmed.json``; by default such papers are an error.
    """
    base = data_dir(root) / "pubmed"
    orig = base / "PubMed_orig"
    src = Source(
        PUBMED_URL,
        zip_fetcher(base, "PubMed_orig", orig, "PubMed_orig.zip"),
        f"TAPE's PubMed_orig archive; unzip it in {base}. The two .tab files alone are also in "
        f"{LINQS_URL}",
    )
    req = [
        Required((orig / "data" / NODE_FILE, base / "data" / NODE_FILE, base / NODE_FILE), src),
        Required((orig / "data" / CITES_FILE, base / "data" / CITES_FILE, base / CITES_FILE), src),
        Required((orig / TEXT_FILE, base / TEXT_FILE), src),
    ]
    node_p, cites_p, text_p = ensure_files("pubmed", req, download)
    pmids, labels = read_pubmed_nodes(node_p)
    index = {p: i for i, p in enumerate(pmids)}
    edge_index = read_pubmed_cites(cites_p, index)
    texts = read_pubmed_json(text_p, pmids)
    texts = fill_texts(texts, pmids, "PMID", str(text_p), empty_text)
    try:
        return TextAttributedGraph(
            texts,
            edge_index,
            torch.tensor(labels, dtype=torch.long),
            list(CLASSES),
            name="pubmed",
            empty_text=empty_text,
        )
    except DataError as e:
        raise DataError(f"{base}: {e}") from e
