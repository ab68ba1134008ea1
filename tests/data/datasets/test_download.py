r"""Fetching missing dataset files, with the network faked."""

from __future__ import annotations

import io
import urllib.error
import zipfile
from pathlib import Path

import pytest

from leading.data.datasets import download
from leading.data.datasets.ogb import load_ogbn_arxiv, nodeproppred
from leading.errors import DataError


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_download_failure_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as e:
        load_ogbn_arxiv(tmp_path, download=True)
    msg = str(e.value)
    assert "download failed" in msg and "URLError" in msg
    assert "https://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip" in msg
    assert str(tmp_path / "ogbn_arxiv" / "raw" / "edge.csv.gz") in msg
    assert not list(tmp_path.rglob("*.part"))


def test_download_unpacks_and_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_arxiv):
    src = write_arxiv(tmp_path / "src", folder="arxiv")
    text = (src / "titleabs.tsv.gz").read_bytes()
    (src / "titleabs.tsv.gz").unlink()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(src.parent).as_posix())
    served = {nodeproppred.ARXIV_URL: buf.getvalue(), nodeproppred.ARXIV_TEXT_URL: text}
    requested = []

    def fake_urlopen(url, timeout=None):
        requested.append((url, timeout))
        return FakeResponse(served[url])

    monkeypatch.setattr(download.urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "data"
    g = load_ogbn_arxiv(root, download=True)
    assert g.num_nodes == 5 and g.texts[0].startswith("evasion attacks")
    assert requested == [(nodeproppred.ARXIV_URL, 20.0), (nodeproppred.ARXIV_TEXT_URL, 20.0)]
    assert (root / "ogbn_arxiv" / "raw" / "edge.csv.gz").is_file()
    assert (root / "ogbn_arxiv" / "titleabs.tsv.gz").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["ogbn_arxiv"]  # zip and temp dir removed
