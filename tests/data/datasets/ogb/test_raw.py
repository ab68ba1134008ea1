r"""Readers of OGB's raw files: integer tables across parse blocks, truncated archives."""

from __future__ import annotations

from pathlib import Path

import pytest

from leading.data.datasets.ogb import load_ogbn_arxiv, raw, read_int_csv
from leading.errors import DataError


def test_read_int_csv_across_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write):
    monkeypatch.setattr(raw, "_BLOCK_BYTES", 7)  # force many tiny blocks
    rows = [(i, 10 * i + 1) for i in range(40)]
    p = write(tmp_path / "e.csv.gz", "".join(f"{a},{b}\n" for a, b in rows))
    assert read_int_csv(p, 2).tolist() == [list(r) for r in rows]
    p = write(tmp_path / "h.csv", "node idx,paper id\r\n0,5\r\n1,6")  # CRLF, no final newline
    assert read_int_csv(p, 2, header="node idx,paper id").tolist() == [[0, 5], [1, 6]]
    bad = "".join(f"{a},{b}\n" for a, b in rows[:30]) + "30,x\n"
    p = write(tmp_path / "bad.csv.gz", bad)
    with pytest.raises(DataError, match=r"bad\.csv\.gz, line 31: expected integer"):
        read_int_csv(p, 2)
    p = write(tmp_path / "trailing.csv", "7\n8\n9\n\n\n \n")  # blank lines at the end are fine
    assert read_int_csv(p, 1)[:, 0].tolist() == [7, 8, 9]
    p = write(tmp_path / "blank.csv", "7\n8\n\n9\n")
    with pytest.raises(DataError, match=r"blank\.csv, line 3: empty line"):
        read_int_csv(p, 1)


def test_truncated_gzip(tmp_path: Path, write_arxiv):
    d = write_arxiv(tmp_path)
    data = (d / "raw" / "edge.csv.gz").read_bytes()
    (d / "raw" / "edge.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"edge\.csv\.gz: unreadable or truncated"):
        load_ogbn_arxiv(tmp_path, download=False)
