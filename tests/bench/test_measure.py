r"""Fresh-process measurement (:mod:`leading.bench.measure`, :mod:`leading.bench.worker`): the
memory watchdog, out-of-memory and error rows, and the figures of a tiny configuration."""

import json
import sys

import pytest
import torch

from leading.bench import worker
from leading.bench.measure import measure, tree_rss_mb
from leading.config import Config
from leading.data import read_directory
from leading.data.graph import TextAttributedGraph


@pytest.fixture
def dataset(tmp_path, tiny_graph, write_graph_dir):
    r"""The tiny graph's nodes, but sparse edges: node :obj:`i` links to :obj:`i + 3` (same
    class), and every fourth node to the next one, so the 2-hop balls of the training nodes are
    not the whole graph."""
    graph = tiny_graph()
    n = graph.num_nodes
    edges = [(i, i + 3) for i in range(n - 3)] + [(i, i + 1) for i in range(0, n - 1, 4)]
    sparse = TextAttributedGraph(graph.texts, torch.tensor(edges).t(), graph.y, graph.class_names)
    return write_graph_dir(tmp_path / "tiny", sparse)


@pytest.fixture
def measure_config(tiny_config, dataset, lm_dir):
    r"""``measure_config(**changes) -> dict``: the tiny configuration on :func:`dataset`, one
    seed of one LM epoch, no downstream model, one thread, as a measurement spec's dict."""

    def make(**changes) -> dict:
        values = dict(dataset=dataset, lm=lm_dir, epochs=1, patience=1, head_epochs=3,
                      eval_steps=10, downstream=[], save_model=False, threads=1)
        return tiny_config(**{**values, **changes}).to_dict()

    return make


# ------------------------------------------------------------------ the parent and its watchdog


def child(code: str) -> list[str]:
    r"""A child command line (it gets the spec and result paths as extra arguments)."""
    return [sys.executable, "-c", code]


def test_watchdog_turns_a_run_above_the_budget_into_an_oom_row(tmp_path):
    code = "import time; x = b'x' * (400 * 2**20); time.sleep(60)"
    row = measure({}, memory_budget_mb=100, command=child(code), log_path=tmp_path / "log")
    assert row["status"] == "oom"
    assert "memory watchdog" in row["error"] and "budget of 100 MiB" in row["error"]
    assert row["peak_rss_mb"] > 100 and row["watch_peak_rss_mb"] > 100
    assert row["wall_time_s"] < 30 and row["exit_code"] == -9


def test_watchdog_keeps_memory_free_for_the_machine():
    code = "import time; time.sleep(60)"
    row = measure({}, memory_budget_mb=None, min_free_mb=2**40, command=child(code))
    assert row["status"] == "oom" and "left on the machine" in row["error"]
    assert "memory_budget_mb" not in row


def test_a_child_killed_by_sigkill_is_an_oom_row():
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    row = measure({}, command=child(code))
    assert row["status"] == "oom" and "SIGKILL" in row["error"]


def test_a_child_that_fails_is_an_error_row_with_its_log():
    code = "import sys; print('no such thing'); sys.exit(3)"
    row = measure({}, command=child(code))
    assert row["status"] == "error" and row["exit_code"] == 3
    assert "exited with code 3" in row["error"] and "no such thing" in row["error"]


def test_timeout():
    row = measure({}, timeout_s=0.5, command=child("import time; time.sleep(60)"))
    assert row["status"] == "error" and "timeout" in row["error"]
    assert row["wall_time_s"] < 30


def test_tree_rss_of_a_gone_process_is_zero():
    assert tree_rss_mb(2**22 + 12345) == 0.0


# --------------------------------------------------------------------------- the child's rows


def run_worker(tmp_path, spec: dict) -> dict:
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert worker.main([str(tmp_path / "spec.json"), str(tmp_path / "result.json")]) == 0
    return json.loads((tmp_path / "result.json").read_text())


@pytest.mark.parametrize("exc, status", [
    (MemoryError(), "oom"),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "oom"),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"),
     "oom"),
    (ValueError("bad value"), "error"),
])
def test_worker_turns_exceptions_into_rows(tmp_path, monkeypatch, exc, status):
    def fail(spec):
        raise exc

    monkeypatch.setattr(worker, "run_spec", fail)
    row = run_worker(tmp_path, {"config": {}})
    assert row["status"] == status
    assert row["error"].startswith(type(exc).__name__) and "Traceback" in row["traceback"]


def test_worker_error_row_names_the_problem(tmp_path):
    cfg = Config(dataset=str(tmp_path / "no-such-dataset"), downstream=[]).to_dict()
    row = run_worker(tmp_path, {"config": cfg})
    assert row["status"] == "error" and "no-such-dataset" in row["error"]


def ball(graph, targets: torch.Tensor, hops: int) -> int:
    r"""Nodes within :obj:`hops` hops of :obj:`targets` (messages flow source -> target)."""
    src, dst = graph.edge_index
    reached = torch.zeros(graph.num_nodes, dtype=torch.bool)
    reached[targets] = True
    for _ in range(hops):
        reached[src[reached[dst]]] = True
    return int(reached.sum())


@pytest.mark.parametrize("method, hops", [("coupled", 2), ("gas", 1)])
def test_encodings_of_coupled_and_gas_are_their_gradient_subgraphs(
    dataset, measure_config, method, hops
):
    # every neighbor (fanouts -1) and one batch of all 12 targets: the subgraph encoded with
    # gradient is the targets' 2-hop (coupled) or 1-hop (gas) ball, once per epoch
    cfg = measure_config(method=method, fanouts=[-1, -1], batch_size=16)
    row = worker.run_spec({"config": cfg})
    assert row["status"] == "ok"
    graph = read_directory(dataset)
    from leading.data import make_split

    train = make_split(graph, cfg["split"], 0)["train"]
    size = ball(graph, train, hops)
    assert 12 < size < graph.num_nodes
    assert row["encodings_per_target_per_epoch"] == pytest.approx(size / 12)
    assert row["encodings_per_node_per_epoch"] == pytest.approx(size / graph.num_nodes)
    assert row["refresh_batch_size"] == 0 and row["lm_epochs_run"] == 1


def test_fresh_process_measurement_of_leading(measure_config, tmp_path):
    cfg = measure_config(method="leading", epochs=2, patience=2)
    row = measure({"config": cfg}, threads=1, log_path=tmp_path / "child.log", timeout_s=300)
    assert row["status"] == "ok", row.get("error")
    # the paper's claim: with equal pipeline batches each target is encoded twice per epoch
    # (3 steps of 4 targets with gradient, and 3 x 4 nodes refreshed without)
    assert row["encodings_per_target_per_epoch"] == pytest.approx(2.0)
    assert row["encodings_per_node_per_epoch"] == pytest.approx(24 / 36)  # of 36 nodes
    assert row["refresh_batch_size"] == 4 and row["lm_epochs_run"] == 2
    assert 0 < row["import_rss_mb"] <= row["peak_rss_mb"]
    assert 0 < row["watch_peak_rss_mb"] <= row["peak_rss_mb"] + 1
    assert row["peak_gpu_mb"] is None and row["device"] == "cpu" and row["torch_threads"] == 1
    assert 0 < row["epoch_time_s"] < row["finetune_time_s"] < row["wall_time_s"]
    assert 0 <= row["test_acc"] <= 1 and 0 <= row["valid_acc"] <= 1
    assert [h["epoch"] for h in row["history"]] == [0, 1, 2]
    assert [h["lm_encodings"] for h in row["history"]] == [0, 24, 24]
    assert row["exit_code"] == 0
