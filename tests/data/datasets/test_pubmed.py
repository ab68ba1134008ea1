r"""PubMed-Diabetes loader on a tiny fixture written at test time in TAPE's ``PubMed_orig`` layout
(the LINQS ``.tab`` files plus ``pubmed.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leading.data.datasets import load_dataset
from leading.data.datasets.pubmed import CLASSES, load_pubmed
from leading.errors import DataError

NODE_HEADER = (
    "NODE\tpaper\n"
    "cat=1,2,3:label\tnumeric:w-rec:0.0\tnumeric:w-use:0.0\tnumeric:w-anim:0.0\tstring:summary\n"
)
CITES_HEADER = "DIRECTED\tcites\nNO_FEATURES\n"

# node order of the .tab file: PMID, label (1..3 in the file)
PAPERS = [("12187484", 1), ("2344352", 1), ("14654069", 2), ("16443886", 3), ("2684155", 3)]
TEXT = {
    "12187484": ("Retinal metabolic abnormalities in diabetic mouse", "Diabetic mice show ..."),
    "2344352": ("Spatial distribution of glucose in rats", "We measured glucose."),
    "14654069": ("Insulin pump therapy in type 1 diabetes", "A 5-year study."),
    "16443886": ("Lifestyle changes in type 2 diabetes", None),  # record without "AB"
    "2684155": ("Metformin and weight", "Metformin lowers weight."),
}


def node_line(pmid: str, label: int) -> str:
    return f"{pmid}\tlabel={label}\tw-rec=0.0093364\tw-use=0.0090198\tsummary=w-rec,w-use\n"


def record(pmid: str) -> dict:
    title, abstract = TEXT[pmid]
    rec = {"PMID": pmid, "OWN": "NLM", "TI": title, "MH": ["Animals", "Diabetes Mellitus"]}
    if abstract is not None:
        rec["AB"] = abstract
    return rec


def write_pubmed(root: Path, records: list | None = None, flat: bool = False) -> Path:
    base = root / "pubmed" if flat else root / "pubmed" / "PubMed_orig"
    tabs = base if flat else base / "data"
    tabs.mkdir(parents=True)
    (tabs / "Pubmed-Diabetes.NODE.paper.tab").write_text(
        NODE_HEADER + "".join(node_line(p, k) for p, k in PAPERS)
    )
    cites = [
        ("19127292", "12187484", "2344352"),
        ("17363749", "2344352", "12187484"),  # the same edge reversed
        ("19668377", "14654069", "14654069"),  # self-citation
        ("17293876", "14654069", "16443886"),
        ("16082365", "12187484", "2684155"),
    ]
    (tabs / "Pubmed-Diabetes.DIRECTED.cites.tab").write_text(
        CITES_HEADER + "".join(f"{e}\tpaper:{a}\t|\tpaper:{b}\n" for e, a, b in cites)
    )
    if records is None:  # a different order than the .tab file, plus a paper not in the graph
        records = [record(p) for p, _ in reversed(PAPERS)]
        records.insert(2, {"PMID": "99999999", "TI": "Unrelated", "AB": "Not a node."})
    (base / "pubmed.json").write_text(json.dumps(records, indent=1))
    return base


def test_pubmed(tmp_path: Path):
    write_pubmed(tmp_path)
    g = load_pubmed(tmp_path, download=False)
    assert g.name == "pubmed"
    assert g.num_nodes == 5
    assert g.num_edges == 3  # {0-1, 2-3, 0-4}; duplicate and self-loop dropped
    assert g.edge_index.tolist() == [[0, 0, 1, 2, 3, 4], [1, 4, 0, 3, 2, 0]]
    assert g.y.tolist() == [0, 0, 1, 2, 2]
    assert (
        g.class_names
        == CLASSES
        == [
            "Diabetes Mellitus Experimental",
            "Diabetes Mellitus Type 1",
            "Diabetes Mellitus Type 2",
        ]
    )
    assert g.splits == {}
    for node, (pmid, _) in enumerate(PAPERS):
        title, abstract = TEXT[pmid]
        assert g.texts[node] == (f"{title}: {abstract}" if abstract else title)


def test_pubmed_flat_layout_and_registry(tmp_path: Path):
    write_pubmed(tmp_path, flat=True)
    g = load_dataset("pubmed", root=tmp_path, download=False)
    assert g.num_nodes == 5 and g.texts[2].startswith("Insulin pump therapy")


def test_pubmed_positional_record_without_pmid(tmp_path: Path):
    # TAPE aligns pubmed.json to the .tab order; a record without PMID stands for its position
    records = [record(p) for p, _ in PAPERS]
    del records[3]["PMID"]
    write_pubmed(tmp_path, records=records)
    g = load_pubmed(tmp_path, download=False)
    assert g.texts[3] == "Lifestyle changes in type 2 diabetes"


def test_pubmed_missing_text(tmp_path: Path):
    records = [record(p) for p, _ in PAPERS]
    records[1] = {"PMID": "2344352"}  # neither title nor abstract
    del records[4]  # no record at all
    write_pubmed(tmp_path, records=records)
    with pytest.raises(DataError, match=r"2 node\(s\).*node 1 \(PMID 2344352\), node 4"):
        load_pubmed(tmp_path, download=False)
    g = load_pubmed(tmp_path, download=False, empty_text="[missing]")
    assert g.texts[1] == g.texts[4] == "[missing]"


def test_pubmed_offline_message(tmp_path: Path):
    with pytest.raises(DataError) as e:
        load_pubmed(tmp_path, download=False)
    msg = str(e.value)
    orig = tmp_path / "pubmed" / "PubMed_orig"
    assert "download=False" in msg
    assert str(orig / "data" / "Pubmed-Diabetes.NODE.paper.tab") in msg
    assert str(orig / "data" / "Pubmed-Diabetes.DIRECTED.cites.tab") in msg
    assert str(orig / "pubmed.json") in msg
    assert "drive.google.com" in msg and "1sYZX-jP6H8OkopVa9cp8-KXdEti5ki_W" in msg


def test_pubmed_offline_message_names_only_missing(tmp_path: Path):
    base = write_pubmed(tmp_path)
    (base / "pubmed.json").unlink()
    with pytest.raises(DataError, match="1 required file") as e:
        load_pubmed(tmp_path, download=False)
    assert str(base / "pubmed.json") in str(e.value)
    assert "Pubmed-Diabetes.NODE.paper.tab" not in str(e.value)


@pytest.mark.parametrize(
    "name, text, match",
    [
        (
            "Pubmed-Diabetes.NODE.paper.tab",
            NODE_HEADER + node_line("12187484", 1) + node_line("2344352", 4),
            r"NODE\.paper\.tab, line 4: label 4 of PMID 2344352 is outside 1\.\.3",
        ),
        (
            "Pubmed-Diabetes.NODE.paper.tab",
            NODE_HEADER + node_line("12187484", 1) + "2344352\tw-rec=0.1\n",
            r"NODE\.paper\.tab, line 4: expected 'label=K'",
        ),
        (
            "Pubmed-Diabetes.NODE.paper.tab",
            NODE_HEADER + node_line("PM123", 1),
            r"NODE\.paper\.tab, line 3: PMID must be an integer",
        ),
        (
            "Pubmed-Diabetes.NODE.paper.tab",
            NODE_HEADER + node_line("12187484", 1) + node_line("12187484", 2),
            r"NODE\.paper\.tab, line 4: PMID 12187484 repeats line 3",
        ),
        (
            "Pubmed-Diabetes.NODE.paper.tab",
            node_line("12187484", 1),
            r"NODE\.paper\.tab, line 1: expected the LINQS header 'NODE",
        ),
        (
            "Pubmed-Diabetes.DIRECTED.cites.tab",
            CITES_HEADER + "1\tpaper:12187484\t|\tpaper:2344352\n2\tpaper:12187484\t|\tpaper:777\n",
            r"cites\.tab, line 4: PMID 777 is not in Pubmed-Diabetes\.NODE\.paper\.tab",
        ),
        (
            "Pubmed-Diabetes.DIRECTED.cites.tab",
            CITES_HEADER + "1\tpaper:12187484\tpaper:2344352\n",
            r"cites\.tab, line 3: expected 4 columns",
        ),
        (
            "Pubmed-Diabetes.DIRECTED.cites.tab",
            CITES_HEADER + "1\tpaper:12187484\t|\tauthor:2344352\n",
            r"cites\.tab, line 3: expected 'paper:PMID'",
        ),
    ],
)
def test_pubmed_malformed_tab(tmp_path: Path, name: str, text: str, match: str):
    base = write_pubmed(tmp_path)
    (base / "data" / name).write_text(text)
    with pytest.raises(DataError, match=match):
        load_pubmed(tmp_path, download=False)


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"PMID": "12187484"}', r"pubmed\.json: expected a JSON list of records"),
        ('[{"PMID": "12187484", "TI": 5}]', r"pubmed\.json: record 0 field 'TI' must be a str"),
        ('[{"PMID": "1"}, ', r"pubmed\.json: not valid JSON"),
    ],
)
def test_pubmed_malformed_json(tmp_path: Path, text: str, match: str):
    base = write_pubmed(tmp_path)
    (base / "pubmed.json").write_text(text)
    with pytest.raises(DataError, match=match):
        load_pubmed(tmp_path, download=False)
