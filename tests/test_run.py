r"""``leading run`` end to end, both tasks through the one protocol (:mod:`leading.run`,
:mod:`leading.protocols`): a tiny graph in the directory format and a tiny random BERT saved with
``save_pretrained``, through the split, fine-tuning (or not), embeddings and the downstream GCN
(classifier or link predictor), to ``results.json`` and the printed table."""

import json
import math
from pathlib import Path

import pytest
import torch

import leading.run as run_module
from leading.cli import main
from leading.config import Config
from leading.data import load_dataset
from leading.protocols import PROTOCOLS, LinkProtocol, NodeProtocol, protocol_of
from leading.run import aggregate, run
from leading.text.encoder import TextEncoder

N = 36  # nodes of the tiny dataset


def check_results(result: dict, cfg: Config, seeds: list[int]) -> None:
    on_disk = json.loads((Path(cfg.out_dir) / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert on_disk["dataset"] == "tiny"
    assert on_disk["lm"] == cfg.lm and on_disk["method"] == cfg.method
    assert on_disk["seeds"] == seeds and on_disk["split"] == cfg.split
    gcn = on_disk["downstream"]["gcn"]
    assert len(gcn["test_acc"]) == len(seeds)
    assert all(0.0 <= a <= 1.0 for a in gcn["test_acc"])
    assert gcn["mean"] == pytest.approx(sum(gcn["test_acc"]) / len(seeds))
    assert math.isfinite(gcn["std"]) and gcn["std"] >= 0
    train = on_disk["train"]
    for k in (
        "epoch_time_s",
        "peak_rss_mb",
        "encodings_per_target_per_epoch",
        "encodings_per_node_per_epoch",
    ):
        assert isinstance(train[k], float | int), k
    assert train["peak_rss_mb"] > 0


def test_run_leading_end_to_end_and_resume(
    tiny_dataset, lm_dir, tiny_config, tmp_path, monkeypatch
):
    from transformers import AutoModel

    out = tmp_path / "out"
    cfg = tiny_config(dataset=tiny_dataset, lm=lm_dir, out_dir=out)
    result = run(cfg)
    check_results(result, cfg, [0])
    assert result["train"]["encodings_per_target_per_epoch"] == 2.0  # 12 targets, batch 4
    assert result["train"]["encodings_per_node_per_epoch"] == pytest.approx(24 / N)
    assert result["train"]["epoch_time_s"] > 0
    assert len(result["best_epoch"]) == 1 and len(result["e2e"]["test_acc"]) == 1

    assert Config.load(out / "config.yaml") == cfg
    seed_dir = out / "seed_0"
    lines = (seed_dir / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss,") and len(lines) == 1 + 1 + 2
    assert not (seed_dir / "checkpoint.pt").exists()
    emb = torch.load(seed_dir / "embeddings.pt")
    assert emb.shape == (N, 32) and emb.dtype == torch.float32
    model = AutoModel.from_pretrained(seed_dir / "model")
    assert model.config.hidden_size == 32
    # the saved embeddings are those of the saved model
    enc = TextEncoder.from_pretrained(seed_dir / "model", "mean", 16, precision="fp32")
    graph = load_dataset(str(tiny_dataset))
    ref = enc.encode_all(enc.tokenize(graph.texts), progress=False)
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-4)

    # resume: the finished seed 0 is read back, only the new seed 1 runs
    calls = []
    run_seed = run_module.run_seed

    def counting(cfg, graph, seed, seed_dir, frozen):
        calls.append(seed)
        return run_seed(cfg, graph, seed, seed_dir, frozen)

    monkeypatch.setattr(run_module, "run_seed", counting)
    again = run(cfg.replace(resume=True, seeds=2))
    assert calls == [1]
    check_results(again, cfg.replace(seeds=2), [0, 1])
    assert again["downstream"]["gcn"]["test_acc"][0] == result["downstream"]["gcn"]["test_acc"][0]
    assert again["per_seed"][0] == json.loads(json.dumps(result["per_seed"][0]))
    assert (out / "seed_1" / "model" / "config.json").exists()

    calls.clear()
    run(cfg.replace(resume=True, seeds=2))
    assert calls == []


def test_run_pretrained(tiny_dataset, lm_dir, tiny_config, tmp_path):
    out = tmp_path / "frozen"
    cfg = tiny_config(dataset=tiny_dataset, lm=lm_dir, out_dir=out, method="pretrained")
    result = run(cfg)
    check_results(result, cfg, [0])
    assert result["train"]["encodings_per_target_per_epoch"] == 0.0
    assert "e2e" not in result and "best_epoch" not in result
    seed_dir = out / "seed_0"
    assert not (seed_dir / "model").exists() and not (seed_dir / "metrics.csv").exists()
    emb = torch.load(seed_dir / "embeddings.pt")
    enc = TextEncoder.from_pretrained(lm_dir, "mean", 16, precision="fp32")
    graph = load_dataset(str(tiny_dataset))
    torch.testing.assert_close(emb, enc.encode_all(enc.tokenize(graph.texts), progress=False))


# ------------------------------------------------------------------------- the shared steps


def fake_seed(task: str, seed: int, finetuned: bool) -> dict:
    r"""A seed's ``result.json`` as :func:`~leading.run.run_seed` writes it (figures made up)."""
    if task == "node":
        block = lambda v: {"test_acc": v, "valid_acc": v / 2}  # noqa: E731
        out = {"seed": seed, "method": "m"}
    else:
        block = lambda v: {p: {m: v / k for m in ("auc", "mrr", "hits@1")}  # noqa: E731
                           for p, k in (("test", 1), ("valid", 2))}
        out = {"seed": seed, "method": "m", "link_split": "60/20/20", "split": {"train": 7}}
    if finetuned:
        out.update(best_epoch=seed + 1, e2e=block(0.5),
                   train={"epoch_time_s": 1.0 + seed, "peak_rss_mb": 10.0 * (seed + 1)})
    return {**out, "downstream": {"gcn": block(0.25 * (seed + 1))}}


@pytest.mark.parametrize("task", ["node", "link"])
@pytest.mark.parametrize("method", ["leading", "shallow"])
def test_aggregate_writes_the_format_of_each_task(task, method):
    cfg = Config(task=task, method=method, downstream=["gcn"], hits_k=[1], lm="x")
    graph = type("Graph", (), {"name": "tiny"})()  # only the name is read
    per_seed = [fake_seed(task, s, method == "leading") for s in (0, 1)]
    result = aggregate(cfg, graph, per_seed)
    head = ["dataset", "lm", "method", "method_overrides"]
    split_keys = (["split"] if task == "node"
                  else ["split_sizes", "link_split_spec", "link_decoder", "headline_metric"])
    tail = (["e2e", "train", "best_epoch"] if method == "leading" else ["shallow", "train"])
    keys = (["task"] if task == "link" else []) + head + split_keys + ["seeds", "downstream"]
    assert list(result) == keys + tail + ["per_seed"]
    assert result["seeds"] == [0, 1] and result["per_seed"] is per_seed
    if task == "node":
        assert result["split"] == cfg.split
        assert result["downstream"]["gcn"] == {
            "test_acc": [0.25, 0.5], "valid_acc": [0.125, 0.25],
            "mean": pytest.approx(0.375), "std": pytest.approx(0.1767767),
        }
    else:
        assert result["task"] == "link" and result["split_sizes"] == {"train": 7}
        assert result["link_split_spec"] == "60/20/20" and result["headline_metric"] == "auc"
        assert list(result["downstream"]["gcn"]) == ["auc", "mrr", "hits@1"]
        assert result["downstream"]["gcn"]["mrr"] == {
            "test": [0.25, 0.5], "valid": [0.125, 0.25],
            "mean": pytest.approx(0.375), "std": pytest.approx(0.1767767),
        }
    if method == "leading":
        assert result["train"] == {"epoch_time_s": 1.5, "peak_rss_mb": 20.0}
        assert result["best_epoch"] == [1, 2]
        assert result["e2e"] == protocol_of(cfg).summarize(cfg, per_seed, lambda r: r["e2e"])
    else:
        assert result["train"]["encodings_per_node_per_epoch"] == 0.0
    name = "leading (x)"
    table = protocol_of(cfg).table(cfg, graph, name, result)
    columns = [c.strip() for c in table.splitlines()[-3].split(" | ")]
    if task == "node":
        assert columns == ["method", "gcn"] + (["e2e head"] if method == "leading" else [])
    else:
        assert table.startswith("link prediction on tiny, split 60/20/20 (7 train edges)")
        metrics = ["auc", "mrr", "hits@1"]
        assert columns == ["method", *(f"gcn {m}" for m in metrics)] + (
            [f"e2e {m}" for m in metrics] if method == "leading" else [])


def test_protocols():
    assert isinstance(PROTOCOLS["node"], NodeProtocol)
    assert isinstance(PROTOCOLS["link"], LinkProtocol)
    assert protocol_of(Config(task="link")) is PROTOCOLS["link"]
    assert PROTOCOLS["link"].e2e({"valid_auc": 0.5, "test_hits@10": 0.25, "test_auc": 1.0}) == {
        "valid": {"auc": 0.5}, "test": {"hits@10": 0.25, "auc": 1.0}
    }
    assert PROTOCOLS["node"].e2e({"test_acc": 0.5}) == {"test_acc": 0.5}


# --------------------------------------------------------------------------- link prediction


def link_argv(dataset, lm_dir, out, *extra: str) -> list[str]:
    return [
        "run", "--task", "link", "--dataset", str(dataset), "--lm", str(lm_dir),
        "--link-split", "60/20/20", "--link-eval-negatives", "10", "--hits-k", "1", "5",
        "--epochs", "1", "--head-epochs", "3", "--batch-size", "4", "--hidden", "16",
        "--link-dim", "8", "--link-edges-per-epoch", "8", "--refresh-fraction", "none",
        "--eval-steps", "10", "--precision", "fp32", "--max-length", "16", "--pooling", "mean",
        "--downstream", "gcn", "--progress", "false", "--out-dir", str(out), *extra,
    ]


METRICS = ("auc", "mrr", "hits@1", "hits@5")


def check_link_block(block: dict, seeds: int) -> None:
    for m in METRICS:
        cell = block[m]
        assert len(cell["test"]) == seeds and len(cell["valid"]) == seeds
        assert all(0.0 <= v <= 1.0 for v in cell["test"] + cell["valid"])
        assert cell["mean"] == pytest.approx(sum(cell["test"]) / seeds)
        assert math.isfinite(cell["std"]) and cell["std"] >= 0
        if seeds == 1:
            assert cell["std"] == 0.0


def test_run_link_leading_two_seeds_and_resume(tiny_dataset, lm_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(link_argv(tiny_dataset, lm_dir, out, "--seeds", "2")) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("link prediction on tiny, split 60/20/20 (")
    assert "gcn auc" in printed and "e2e mrr" in printed
    res = json.loads((out / "results.json").read_text())
    assert res["task"] == "link" and res["method"] == "leading" and res["seeds"] == [0, 1]
    assert res["headline_metric"] == "auc" and res["dataset"] == "tiny"
    assert res["link_split_spec"] == "60/20/20" and res["per_seed"][0]["link_split"] == "60/20/20"
    sizes = res["split_sizes"]
    assert sizes["train"] == sizes["message_passing_edges"] and sizes["valid"] == sizes["test"]
    assert sizes["neg_targets_per_positive"] == 10
    check_link_block(res["downstream"]["gcn"], 2)
    check_link_block(res["e2e"], 2)
    assert len(res["per_seed"]) == 2 and res["best_epoch"] == [1, 1]
    assert res["train"]["peak_rss_mb"] > 0 and res["train"]["steps_per_epoch"] == 2
    # each seed has its own split, so its own figures
    assert res["per_seed"][0]["downstream"] != res["per_seed"][1]["downstream"]
    for s in (0, 1):
        seed_dir = out / f"seed_{s}"
        assert torch.load(seed_dir / "embeddings.pt").shape == (N, 32)
        assert (seed_dir / "model" / "config.json").exists()
        assert (seed_dir / "metrics.csv").read_text().startswith("epoch,train_loss,valid_auc")

    calls = []
    monkeypatch.setattr(run_module, "run_seed", lambda *a: calls.append(a))
    assert main(link_argv(tiny_dataset, lm_dir, out, "--seeds", "2", "--resume")) == 0
    assert calls == []  # both seeds read back from seed_S/result.json
    again = json.loads((out / "results.json").read_text())
    assert again["downstream"] == res["downstream"]


@pytest.mark.parametrize("method", ["shallow", "pretrained", "supervised"])
def test_run_link_baselines(tiny_dataset, lm_dir, tmp_path, method):
    out = tmp_path / method
    assert main(link_argv(tiny_dataset, lm_dir, out, "--method", method, "--seeds", "1")) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["method"] == method
    check_link_block(res["downstream"]["gcn"], 1)
    assert ("e2e" in res) == (method == "supervised")
    assert ("trainable_params" in res["per_seed"][0]) == (method == "supervised")


def test_run_link_rejects_other_methods(tiny_dataset, lm_dir, tmp_path, capsys):
    assert main(link_argv(tiny_dataset, lm_dir, tmp_path / "x", "--method", "glem")) == 2
    err = capsys.readouterr().err
    assert err.startswith("leading: error: task link supports methods")
    assert not (tmp_path / "x").exists()
