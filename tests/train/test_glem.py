r"""GLEM (``--method glem``): the LM and a GNN teach each other with pseudo-labels, on a tiny graph
with a tiny random BERT. The rule tested hardest: no validation or test label is ever learnt
from; pseudo-labels are the teaching model's predictions on non-training nodes."""

import functools
import json
import math
from pathlib import Path

import pytest
import torch
from test_methods import check_results
from test_node import assert_same_state, scrambled

from leading.config import Config
from leading.errors import ConfigError
from leading.eval import DownstreamConfig, evaluate_downstream
from leading.run import run
from leading.train import LeadingTrainer
from leading.train.glem import GlemTrainer, pseudo_label
from leading.train.methods import method_overrides

STANDARD_TRAIN_KEYS = {
    "epoch_time_s", "peak_rss_mb", "encodings_per_target_per_epoch",
    "encodings_per_node_per_epoch", "refresh_batch_size", "lm_epochs_run",
}


@pytest.fixture(scope="module")
def glem_config(tiny_config):
    r"""``glem_config(**changes)``: the tiny configuration of method glem, one EM round."""

    return functools.partial(
        tiny_config, method="glem", epochs=3, glem_lm_epochs=2, glem_rounds=1,
        glem_pseudo_ratio=0.5, lr_lm=1e-3, lr_head_finetune=1e-2, dropout=0.0, patience=10,
    )


GNN = DownstreamConfig(epochs=30, patience=10, num_threads=1)


def fit(graph, splits, encoder, cfg: Config) -> dict:
    trainer = GlemTrainer(graph, splits, encoder, cfg, seed=0, gnn_config=GNN)
    res = trainer.fit()
    return {
        "trainer": trainer,
        "res": res,
        "encoder": {k: v.clone() for k, v in encoder.state_dict().items()},
    }


# ---------------------------------------------------------------------------------- settings


def test_settings_and_given_pseudo_labels(graph, splits, make_encoder, glem_config):
    for bad, match in (
        (dict(glem_pseudo_ratio=1.5), "glem_pseudo_ratio"),
        (dict(glem_rounds=-1), "glem_rounds"),
        (dict(glem_lm_epochs=0), "glem_lm_epochs"),
        (dict(glem_gnn="transformer"), "glem_gnn"),
    ):
        with pytest.raises(ConfigError, match=match):
            Config(**bad)
    cfg = glem_config().replace(head="mlp")  # GLEM's LM steps use the graph-less head
    enc = make_encoder()
    train = splits["train"]
    with pytest.raises(ValueError, match="training nodes keep their own labels"):
        LeadingTrainer(graph, splits, enc, cfg, pseudo_labels=(train[:2], torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="one label each"):
        LeadingTrainer(graph, splits, enc, cfg, pseudo_labels=(splits["test"][:2], torch.ones(1)))
    ids = splits["test"][:3]
    trainer = LeadingTrainer(graph, splits, enc, cfg, pseudo_labels=(ids, torch.tensor([2, 0, 1])))
    assert trainer.task.num_pseudo == 3 and trainer.steps_per_epoch == math.ceil(15 / 4)
    trainer.task.pseudo_label(trainer)  # given pseudo-labels: no prediction needed
    assert torch.equal(trainer.labels[ids], torch.tensor([2, 0, 1]))
    assert trainer.targets.numel() == 15 and bool(torch.isin(ids, trainer.targets).all())


def test_pseudo_label_takes_the_most_confident_non_training_nodes():
    prob = torch.tensor(
        [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.99, 0.01], [0.55, 0.45]]
    )
    ids, labels = pseudo_label(prob, torch.tensor([4, 1]), 0.5)  # 4 candidates -> 2
    assert ids.tolist() == [0, 3] and labels.tolist() == [0, 1]
    assert pseudo_label(prob, torch.tensor([4]), 0.0)[0].numel() == 0
    assert sorted(pseudo_label(prob, torch.tensor([4]), 1.0)[0].tolist()) == [0, 1, 2, 3, 5]


# ------------------------------------------------------------------------------------ training


def test_glem_trains_both_models_and_hands_over_pseudo_labels(
    graph, splits, make_encoder, glem_config
):
    enc = make_encoder()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    run_ = fit(graph, splits, enc, glem_config())
    trainer, res = run_["trainer"], run_["res"]
    assert res.embeddings.shape == (graph.num_nodes, 32)
    torch.testing.assert_close(res.embeddings, enc.encode_all(trainer.tokens, progress=False))
    assert any(not torch.equal(before[k], v) for k, v in enc.state_dict().items())
    # LM pre-training, GNN pre-training, then one EM round
    assert [(h["step"], h["model"]) for h in res.history] == [
        (0, "lm"), (0, "gnn"), (1, "lm"), (1, "gnn")
    ]
    assert [h["pseudo_labels"] for h in res.history] == [0, 0, 12, 12]  # half of 36 - 12
    assert [h["targets"] for h in res.history] == [12, 12, 24, 24]
    # the LM learns: the training loss falls within each LM step
    for step in (0, 1):
        losses = [r["train_loss"] for r in trainer.lm_rows if r["step"] == step and r["epoch"]]
        assert len(losses) == (3 if step == 0 else 2) and losses[-1] < losses[0]
    # hand-overs: the teacher's most confident predictions on non-training nodes
    assert [p[0] for p in trainer.pseudo] == ["gnn0->lm1", "lm1->gnn1"]
    for _, ids, labels, prob in trainer.pseudo:
        assert ids.numel() == 12 and ids.unique().numel() == 12
        assert not bool(torch.isin(ids, splits["train"]).any())
        assert torch.equal(labels, prob.argmax(-1)[ids])
        conf = prob.max(-1).values
        outside = torch.ones(graph.num_nodes, dtype=torch.bool)
        outside[splits["train"]] = False
        outside[ids] = False
        assert float(conf[ids].min()) >= float(conf[outside].max())
    # the E-step's LM trainer learnt exactly the training labels + the GNN's pseudo-labels
    lm1 = trainer.lm_trainers[1]
    _, ids, labels, _ = trainer.pseudo[0]
    assert torch.equal(lm1.targets, torch.cat([splits["train"], ids.sort().values]))
    assert torch.equal(lm1.labels[ids], labels)
    assert torch.equal(lm1.labels[splits["train"]], graph.y[splits["train"]])
    assert int((lm1.labels >= 0).sum()) == 24
    # costs: only the targets' encodings count (supervised configuration)
    assert STANDARD_TRAIN_KEYS <= set(res.stats)
    assert res.stats["lm_epochs_run"] == 5 and res.stats["lm_steps"] == 2
    assert res.stats["encodings_per_target_per_epoch"] == 1.0
    n = graph.num_nodes
    assert res.stats["encodings_per_node_per_epoch"] == pytest.approx((3 * 12 + 2 * 24) / 5 / n)
    assert set(res.e2e) == {"train_acc", "valid_acc", "test_acc"}
    assert res.e2e == {k: res.history[-1][k] for k in res.e2e}


def test_no_pseudo_labels_and_no_rounds(graph, splits, make_encoder, glem_config):
    run_ = fit(graph, splits, make_encoder(), glem_config(glem_rounds=0, epochs=1))
    assert [h["model"] for h in run_["res"].history] == ["lm", "gnn"]
    run_ = fit(graph, splits, make_encoder(), glem_config(glem_pseudo_ratio=0.0, epochs=1,
                                                          glem_lm_epochs=1))
    assert [h["pseudo_labels"] for h in run_["res"].history] == [0, 0, 0, 0]
    assert run_["trainer"].lm_trainers[1].targets.numel() == 12


def test_pre_training_is_the_supervised_baseline(graph, splits, make_encoder, glem_config):
    r"""Round 0 is supervised fine-tuning, then the downstream evaluation's GCN: with no EM
    round, GLEM's embeddings are the supervised baseline's and its GNN is the downstream GCN."""
    cfg = glem_config(glem_rounds=0, epochs=2)
    glem = fit(graph, splits, make_encoder(), cfg)["res"]
    sup_cfg = cfg.replace(method="supervised").replace(**method_overrides("supervised"))
    sup = LeadingTrainer(graph, splits, make_encoder(), sup_cfg, seed=0).fit()
    assert torch.equal(glem.embeddings, sup.embeddings)
    gcn = evaluate_downstream(sup.embeddings, graph.edge_index, graph.y, splits, ["gcn"], seed=0,
                              config=GNN)["gcn"]
    assert (glem.e2e["valid_acc"], glem.e2e["test_acc"]) == (gcn["valid_acc"], gcn["test_acc"])
    assert glem.history[-1]["best_epoch"] == gcn["best_epoch"]


# ------------------------------------------------------------------------- no evaluation label


def assert_same_glem(a: dict, b: dict, drop: tuple[str, ...]) -> None:
    assert_same_state(a["encoder"], b["encoder"], atol=0)
    assert torch.equal(a["res"].embeddings, b["res"].embeddings)
    pa, pb = a["trainer"].pseudo, b["trainer"].pseudo
    assert len(pa) == len(pb) == 2
    for x, y in zip(pa, pb, strict=True):
        assert x[0] == y[0] and torch.equal(x[1], y[1]) and torch.equal(x[2], y[2])
        assert torch.equal(x[3], y[3])
    for rows in ("lm_rows", "history"):
        ra, rb = getattr(a["trainer"], rows), getattr(b["trainer"], rows)
        assert len(ra) == len(rb)
        for x, y in zip(ra, rb, strict=True):
            for k in x.keys() - set(drop):
                assert x[k] == pytest.approx(y[k], abs=0, nan_ok=True), (rows, x["step"], k)


def test_no_validation_or_test_label_is_learnt_from(
    graph, splits, make_encoder, glem_config, monkeypatch
):
    ref = fit(graph, splits, make_encoder(), glem_config())

    # 1. test labels replaced by other classes: the same run; only test accuracies change
    garbage_test = scrambled(graph, splits["test"])
    other = fit(garbage_test, splits, make_encoder(), glem_config())
    assert_same_glem(ref, other, drop=("test_acc", "time_s", "epoch_time_s"))
    assert any(x["test_acc"] != y["test_acc"]
               for x, y in zip(ref["res"].history, other["res"].history, strict=True))

    # 2. every non-training label replaced (training labels kept), but evaluation (model
    # selection and reports) scores against the true labels: still the very same run, so
    # validation labels are read by evaluation only and pseudo-labels are predictions
    train = torch.zeros(graph.num_nodes, dtype=torch.bool)
    train[splits["train"]] = True
    garbage = scrambled(graph, (~train).nonzero().view(-1))
    assert torch.equal(garbage.y[splits["train"]], graph.y[splits["train"]])
    evaluate = LeadingTrainer.evaluate

    def evaluate_with_true_labels(self, *args, **kwargs):
        y, self.task.graph.y = self.task.graph.y, graph.y
        try:
            return evaluate(self, *args, **kwargs)
        finally:
            self.task.graph.y = y

    monkeypatch.setattr(LeadingTrainer, "evaluate", evaluate_with_true_labels)
    monkeypatch.setattr(GlemTrainer, "_eval_labels", lambda self, ids: graph.y[ids.cpu()])
    other = fit(garbage, splits, make_encoder(), glem_config())
    assert other["trainer"].graph.y is garbage.y
    assert_same_glem(ref, other, drop=("time_s", "epoch_time_s"))
    for _, ids, labels, _ in other["trainer"].pseudo:
        assert not bool(torch.isin(ids, splits["train"]).any())
        assert not torch.equal(labels, garbage.y[ids])  # not copied from the (garbage) labels


# ----------------------------------------------------------------------------- leading run


def test_run_glem(tmp_path, run_config, graph):
    cfg = run_config(method="glem", glem_pseudo_ratio=0.25)
    result = run(cfg)
    assert result == check_results(cfg)
    assert result["method_overrides"]["head"] == "mlp"
    assert result["method_overrides"]["refit_head"] is False
    assert set(result["e2e"]) == {"test_acc", "valid_acc", "mean", "std"}
    assert len(result["e2e"]["test_acc"]) == 2 and len(result["best_epoch"]) == 2
    assert STANDARD_TRAIN_KEYS <= set(result["train"])
    assert result["train"]["lm_epochs_run"] == 2  # 1 pre-training epoch + 1 EM round epoch
    seed0 = json.loads((Path(cfg.out_dir) / "seed_0" / "result.json").read_text())
    assert [h["model"] for h in seed0["glem"]] == ["lm", "gnn", "lm", "gnn"]
    assert seed0["glem"][2]["pseudo_labels"] == 6  # a quarter of 36 - 12
    assert seed0["e2e"]["test_acc"] == seed0["glem"][-1]["test_acc"]
    embeddings = torch.load(tmp_path / "out" / "seed_0" / "embeddings.pt")
    assert embeddings.shape == (graph.num_nodes, 32)
    header = (tmp_path / "out" / "seed_0" / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("step,epoch,train_loss")
    assert Config.load(tmp_path / "out" / "config.yaml") == cfg


# ------------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("stop", ["lm_epoch", "gnn_step"])
def test_resume_after_a_crash_reaches_the_uninterrupted_result(
    graph, splits, make_encoder, glem_config, tmp_path, crash_after_epoch, monkeypatch, stop
):
    cfg = glem_config()

    def fit_in(run_dir, cfg):
        encoder = make_encoder()
        trainer = GlemTrainer(graph, splits, encoder, cfg, run_dir=run_dir, seed=0,
                              gnn_config=GNN)
        res = trainer.fit()
        return {"trainer": trainer, "res": res,
                "encoder": {k: v.clone() for k, v in encoder.state_dict().items()}}

    whole = fit_in(tmp_path / "a", cfg)
    if stop == "lm_epoch":  # in the pre-training LM step, after the checkpoint of epoch 1
        disarm = crash_after_epoch(1)
    else:  # in the round-1 GNN step
        gnn_step = GlemTrainer._gnn_step

        def crash_in_round_1(self, step, emb, pseudo):
            if step == 1:
                raise KeyboardInterrupt
            return gnn_step(self, step, emb, pseudo)

        monkeypatch.setattr(GlemTrainer, "_gnn_step", crash_in_round_1)
        disarm = monkeypatch.undo
    with pytest.raises(KeyboardInterrupt):
        fit_in(tmp_path / "b", cfg)
    disarm()
    state = tmp_path / "b" / ("lm_step0/checkpoint.pt" if stop == "lm_epoch" else "glem_state.pt")
    assert state.exists()
    resumed = fit_in(tmp_path / "b", cfg.replace(resume=True))
    assert not (tmp_path / "b" / "glem_state.pt").exists()
    assert_same_glem(whole, resumed, drop=("time_s", "epoch_time_s"))
    assert resumed["res"].stats["lm_steps"] == whole["res"].stats["lm_steps"] == 2
    assert resumed["res"].stats["lm_epochs_run"] == whole["res"].stats["lm_epochs_run"]
