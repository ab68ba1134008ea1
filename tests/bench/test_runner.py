r"""``leading bench``: the studies as data, efficiency.json, resume, plots and the command line
(measurements replaced by a fake; tests/bench/test_measure.py measures for real)."""

import json

import pytest

from leading.bench.runner import run_bench
from leading.bench.studies import STUDIES, config_key, plan
from leading.cli import main

FIELDS = (
    "study", "method", "setting", "status", "peak_rss_mb", "peak_mem_mb", "epoch_time_s",
    "encodings_per_target_per_epoch", "encodings_per_node_per_epoch", "test_acc", "config",
    "config_key",
)


class FakeMeasure:
    r"""Rows made up from the configuration: coupled above batch 32 runs out of memory, the
    lm+appnp ablation fails once (then works), and every call is recorded."""

    def __init__(self, fail_once: str | None = "lm+appnp"):
        self.calls: list[dict] = []
        self.fail_once = fail_once

    def __call__(self, spec, memory_budget_mb=None, timeout_s=None, log_path=None, threads=None):
        cfg = spec["config"]
        self.calls.append(cfg)
        if cfg["method"] == "coupled" and cfg["batch_size"] > 32:
            return {"status": "oom", "error": "killed by the memory watchdog", "peak_rss_mb": 999}
        if self.fail_once and cfg["head"] == "appnp" and cfg["grad_hops"] == -1:
            self.fail_once = None
            return {"status": "error", "error": "ValueError: boom"}
        hops = len(cfg["fanouts"])
        per_target = {"coupled": 5.0 * hops, "gas": 3.0, "supervised": 1.0}.get(cfg["method"], 2)
        return {
            "status": "ok", "peak_rss_mb": 100.0 * per_target + cfg["batch_size"],
            "peak_gpu_mb": None, "epoch_time_s": 1.5, "encodings_per_target_per_epoch": per_target,
            "encodings_per_node_per_epoch": per_target * 140 / 2708, "test_acc": 0.8,
            "valid_acc": 0.78, "finetune_time_s": 9.0, "wall_time_s": 10.0,
            "refresh_batch_size": 32,
            "history": [{"epoch": e, "valid_acc": 0.5 + 0.1 * e} for e in range(cfg["epochs"] + 1)],
        }


def test_plan_shares_runs_and_keeps_the_paper_settings():
    points = plan("quick")
    assert {p.study for p in points} == set(STUDIES)
    keys = {p.key for p in points}
    assert len(keys) == len(points)  # one row per (study, method, setting)
    by = {p.key: p for p in points}
    leading = by['table5/leading/{"batch_size": 32, "fanouts": [10, 5]}'].config
    assert (leading["refresh_fraction"], leading["refresh_batch_size"]) == (None, None)
    assert leading["pseudo_labels"] == 0.0 and leading["max_length"] == 32
    # Figure 3 and Table 5 are the same runs; the graph-free head is one run for every hops
    assert by['fig3/gas/{"batch_size": 32, "fanouts": [10, 5]}'].config_key == \
        by['table5/gas/{"batch_size": 32, "fanouts": [10, 5]}'].config_key
    sup = [p for p in points if p.study == "fig4_5_hops" and p.method == "supervised"]
    assert len(sup) == 2 and len({p.config_key for p in sup}) == 1
    lead = [p for p in points if p.study == "fig4_5_hops" and p.method == "leading"]
    assert [p.config["fanouts"] for p in lead] == [[10], [10, 5]]
    assert all(p.config["scope"] == "subgraph" for p in lead)
    # config_key sees through the method's overrides but not through real differences
    assert config_key({**leading, "progress": True}) == config_key(leading)
    assert config_key({**leading, "batch_size": 8}) != config_key(leading)
    full = plan("full", studies=["table6"], epochs=2)
    assert [(p.method, p.setting["prop_steps"]) for p in full][:2] == [
        ("lm+appnp", 2), ("lm+appnp+nd", 2)
    ]
    assert len(full) == 10 and all(p.config["epochs"] == 2 for p in full)
    with pytest.raises(ValueError, match="unknown studies"):
        plan("quick", ["table7"])


def test_run_bench_writes_rows_plots_and_resumes(tmp_path):
    out = tmp_path / "bench"
    fake = FakeMeasure()
    lines: list[str] = []
    doc = run_bench("quick", out, threads=1, measure_fn=fake, log=lines.append, progress=False)
    points = plan("quick", threads=1)
    # one fresh measurement per distinct configuration, one row per point
    assert len(fake.calls) == len({p.config_key for p in points if p.skip is None})
    assert len(doc["rows"]) == len(points)
    saved = json.loads((out / "efficiency.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(doc["rows"]))
    for row in saved["rows"]:
        assert all(k in row for k in FIELDS), row["study"]
        assert row["status"] in ("ok", "oom", "error", "skipped")
        assert all(row[k] == v for k, v in row["setting"].items())
    statuses = {(r["study"], r["method"], r["status"]) for r in saved["rows"]}
    assert ("table6", "lm+appnp", "error") in statuses
    assert saved["command"] == "leading bench --quick --out " + str(out) + " --memory-budget-mb " \
        "16384.0 --threads 1"
    assert {"platform", "cpu", "threads", "torch"} <= set(saved["machine"])
    assert saved["machine"]["threads"] == 1
    assert any("enc/target" in line and "peak" in line for line in lines)
    for name in ("fig3_convergence", "fig4_memory", "fig5_encodings", "table4_cost",
                 "table5_accuracy_memory", "table6_ablation", "refresh_budget"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    summary = (out / "summary.md").read_text()
    assert "## Table 6" in summary and "ValueError: boom" in summary

    # --resume keeps the ok rows and retries the failed one only
    again = FakeMeasure(fail_once=None)
    doc2 = run_bench("quick", out, threads=1, resume=True, measure_fn=again, log=lines.append,
                     progress=False, plots=False)
    assert len(again.calls) == 1 and again.calls[0]["grad_hops"] == -1
    assert [r["status"] for r in doc2["rows"] if r["method"] == "lm+appnp"] == ["ok"]
    assert len(doc2["rows"]) == len(points)
    # other settings in the same directory are refused
    with pytest.raises(ValueError, match="same mode and settings"):
        run_bench("quick", out, threads=2, resume=True, measure_fn=again, progress=False)


def test_oom_points_are_rows_and_plotted(tmp_path):
    out = tmp_path / "bench"
    doc = run_bench("full", out, studies=["fig4_5_batch_size"], measure_fn=FakeMeasure(),
                    log=lambda s: None, progress=False)
    oom = [r for r in doc["rows"] if r["status"] == "oom"]
    assert [(r["method"], r["batch_size"]) for r in oom] == [("coupled", 64), ("coupled", 128)]
    assert oom[0]["peak_mem_mb"] == 999
    assert (out / "fig4_memory.png").exists() and (out / "fig5_encodings.png").exists()
    assert not (out / "table5_accuracy_memory.png").exists()
    assert "| coupled | 128 | 2 | OOM |" in (out / "summary.md").read_text()


def test_cli_dry_run(tmp_path, capsys):
    assert main(["bench", "--quick", "--dry-run", "--out", str(tmp_path / "b"),
                 "--studies", "table5", "fig3"]) == 0
    err = capsys.readouterr().err
    assert "6 rows" in err and "3 configurations to measure" in err
    assert "table5 coupled" in err and "fig3 coupled" in err
    assert not (tmp_path / "b").exists()
