r"""What a run leaves on disk: atomic checkpoints that survive a crash while saving, and the
per-epoch metrics CSV."""

from __future__ import annotations

import math

import pytest
import torch

from leading.train import checkpoint as ckpt
from leading.train.checkpoint import load_checkpoint, save_checkpoint, write_metrics


def state(v: float) -> dict:
    return {"epoch": int(v), "weights": torch.full((3, 2), v), "nested": {"rng": torch.arange(4)}}


def assert_state(loaded: dict, v: float) -> None:
    assert loaded["epoch"] == int(v)
    assert torch.equal(loaded["weights"], torch.full((3, 2), v))
    assert torch.equal(loaded["nested"]["rng"], torch.arange(4))


def test_save_then_load_roundtrip(tmp_path):
    path = tmp_path / "run" / "deeper" / "checkpoint.pt"  # parents are created
    save_checkpoint(state(1.0), path)
    assert_state(load_checkpoint(path), 1.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"]  # no .tmp left
    save_checkpoint(state(2.0), str(path))  # overwrite, str path
    assert_state(load_checkpoint(str(path)), 2.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.pt"]


def test_load_absent_returns_none(tmp_path):
    assert load_checkpoint(tmp_path / "missing.pt") is None
    assert load_checkpoint(tmp_path / "no" / "such" / "dir" / "checkpoint.pt") is None


def test_save_goes_through_a_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    written = []
    real_save = torch.save

    def spy(obj, f, *args, **kwargs):
        written.append(str(f))
        assert not path.exists()  # the final name appears only after the rename
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", spy)
    save_checkpoint(state(1.0), path)
    assert written == [str(path) + ".tmp"]
    assert path.exists() and not (tmp_path / "checkpoint.pt.tmp").exists()


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(state(1.0), path)
    before = path.read_bytes()

    def partial_then_crash(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(before[: len(before) // 3])  # half-written file
        raise KeyboardInterrupt  # killed while saving

    monkeypatch.setattr(ckpt.torch, "save", partial_then_crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(state(2.0), path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert_state(load_checkpoint(path), 1.0)
    # the next successful save replaces the partial temporary file
    save_checkpoint(state(3.0), path)
    assert_state(load_checkpoint(path), 3.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_write_metrics(tmp_path):
    rows = [
        {"epoch": 0, "train_loss": float("nan"), "valid_acc": 0.123456789, "name": "x"},
        {"epoch": 1, "train_loss": 1234567.0, "valid_acc": 2 / 3, "name": "y", "extra": 5},
        {"epoch": 2, "train_loss": 1e-9, "valid_acc": 1.0, "name": True},
    ]
    path = tmp_path / "out" / "metrics.csv"
    write_metrics(rows, path)
    text = path.read_text()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[0] == "epoch,train_loss,valid_acc,name"  # the first row's keys, in order
    assert lines[1:] == [
        "0,nan,0.123457,x",
        "1,1.23457e+06,0.666667,y",  # later rows' extra keys are left out
        "2,1e-09,1,True",  # floats with 6 significant digits, ints and others as they print
    ]


def test_write_metrics_roundtrips_through_csv(tmp_path):
    import csv

    rows = [{"epoch": e, "loss": 1 / (e + 1), "acc": math.pi * e} for e in range(4)]
    write_metrics(rows, tmp_path / "m.csv")
    with open(tmp_path / "m.csv", newline="") as f:
        read = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in read] == [0, 1, 2, 3]
    for r, ref in zip(read, rows, strict=True):
        assert float(r["loss"]) == pytest.approx(ref["loss"], rel=1e-5)
        assert float(r["acc"]) == pytest.approx(ref["acc"], rel=1e-5)


def test_write_metrics_overwrites(tmp_path):
    path = tmp_path / "metrics.csv"
    write_metrics([{"a": 1}, {"a": 2}], path)
    write_metrics([{"a": 3}], path)
    assert path.read_text() == "a\n3\n"
