r"""Two CPU processes on torch.distributed (gloo), launched by torchrun as a user would: the
replicas stay identical, and two processes reproduce one process with the same global batch."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "distributed_worker.py"


def launch(mode: str, out: Path, nproc: int, fails: bool = False,
           **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env_vars}
    cmd = [sys.executable, str(WORKER), mode, str(out)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", *cmd[1:]]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 or fails or mode in ("die", "hang") or mode.endswith("_die"), \
        done.stderr[-3000:]
    return done


def load(out: Path, mode: str, world: int, rank: int) -> dict:
    return torch.load(out / f"{mode}_w{world}_r{rank}.pt", weights_only=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    launch("equal", out, 1)
    launch("equal", out, 2)
    launch("banks", out, 2)
    for mode in ("sharded", "fsdp"):  # uninterrupted; killed at epoch 2; resumed
        launch(mode, out, 2)
        assert launch(f"{mode}_die", out, 2).returncode != 0
        files = sorted(p.name for p in (out / f"{mode}_killed").iterdir())
        (out / f"{mode}_killed_files.txt").write_text("\n".join(files))
        if mode == "sharded":  # a copy that lost rank 1's rows
            shutil.copytree(out / "sharded_killed", out / "lost" / "sharded_killed")
            (out / "lost" / "sharded_killed" / "checkpoint.rank1.save2.pt").unlink()
        launch(f"{mode}_resume", out, 2)
    launch("glem", out, 2)
    return out


def test_replicas_hold_identical_banks_histories_and_models(runs):
    a, b = load(runs, "banks", 2, 0), load(runs, "banks", 2, 1)
    assert a["world"] == b["world"] == 2
    for k, v in a["memory"].items():  # rows, filled mask, write clock, encoding counters
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(b["memory"][k])), k
    assert int(a["memory"]["free_encodings"].sum()) > 0  # pipeline 2 ran on both ranks
    for k in ("x", "g"):
        assert a["history"][k] is not None and torch.equal(a["history"][k], b["history"][k]), k
    for k, v in a["encoder"].items():
        assert torch.equal(v, b["encoder"][k]), k
    assert torch.equal(a["embeddings"], b["embeddings"])
    assert a["e2e"] == b["e2e"]
    assert a["losses"][1:] != b["losses"][1:]  # each rank trained on its own targets


def test_sharded_bank_gives_the_rows_of_the_replicated_one(runs):
    replicated = load(runs, "banks", 2, 0)
    sharded = [load(runs, "sharded", 2, r) for r in (0, 1)]
    assert replicated["local_rows"] == 36  # every row on every rank
    assert [s["local_rows"] for s in sharded] == [18, 18]  # rank r: the ids i = r mod 2
    for s in sharded:  # the same training, read from the owners: the same rows and model
        for k, v in replicated["memory"].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(s["memory"][k])), k
        assert torch.equal(s["embeddings"], replicated["embeddings"])
    assert sharded[0]["losses"][1:] == replicated["losses"][1:]  # rank 0's own targets
    for k in ("x", "g"):
        assert torch.equal(sharded[0]["history"][k], replicated["history"][k])


def test_fsdp_shards_the_lm_and_trains_as_the_replicated_run(runs):
    replicated = load(runs, "banks", 2, 0)
    fsdp = [load(runs, "fsdp", 2, r) for r in (0, 1)]
    total = replicated["lm_local_numel"]  # every parameter on every rank
    local = [f["lm_local_numel"] for f in fsdp]
    assert sum(local) == total and max(local) < 0.51 * total  # about half each
    # the same training: FSDP's reduce-scatter sums the gradients in another order
    assert fsdp[0]["losses"][1:] == pytest.approx(replicated["losses"][1:], abs=1e-6)
    for k, v in replicated["encoder"].items():
        torch.testing.assert_close(fsdp[0]["encoder"][k], v, atol=1e-6, rtol=1e-5)
        assert torch.equal(fsdp[0]["encoder"][k], fsdp[1]["encoder"][k]), k
    torch.testing.assert_close(fsdp[0]["embeddings"], replicated["embeddings"], atol=1e-5,
                               rtol=1e-4)
    assert torch.equal(fsdp[0]["embeddings"], fsdp[1]["embeddings"])
    for k, v in replicated["memory"].items():  # the bank is replicated still
        if k == "values":
            torch.testing.assert_close(fsdp[1]["memory"][k], v, atol=1e-5, rtol=1e-4)
        else:
            assert torch.equal(torch.as_tensor(fsdp[1]["memory"][k]), torch.as_tensor(v)), k


def test_resume_without_a_ranks_rows_says_which_file_is_missing(runs):
    done = launch("sharded_resume", runs / "lost", 2, fails=True)
    assert done.returncode != 0
    assert "leading: error:" in done.stderr and "part of rank 1" in done.stderr
    assert "checkpoint.rank1.save2.pt) is missing" in done.stderr, done.stderr[-3000:]


@pytest.mark.parametrize("mode", ["sharded", "fsdp"])
def test_run_killed_then_resumed_equals_the_uninterrupted_one(runs, mode):
    killed = (runs / f"{mode}_killed_files.txt").read_text().split()
    # the sharded bank: each rank wrote its own rows, for the last save (epoch 1) only
    shards = ["checkpoint.rank0.save2.pt", "checkpoint.rank1.save2.pt"] if mode == "sharded" \
        else []
    assert killed == ["checkpoint.pt", *shards, "metrics.csv"]
    assert sorted(p.name for p in (runs / f"{mode}_killed").iterdir()) == ["metrics.csv"]
    for r in (0, 1):
        whole, resumed = load(runs, mode, 2, r), load(runs, f"{mode}_resume", 2, r)
        # epoch 2 trained after the resume; epoch 1's row is rank 0's, from the checkpoint
        assert resumed["losses"][2:] == whole["losses"][2:]
        assert resumed["losses"][1] == load(runs, mode, 2, 0)["losses"][1]
        for k, v in whole["memory"].items():
            assert torch.equal(torch.as_tensor(resumed["memory"][k]), torch.as_tensor(v)), k
        for k, v in whole["encoder"].items():
            assert torch.equal(resumed["encoder"][k], v), k
        assert torch.equal(resumed["embeddings"], whole["embeddings"])
        assert resumed["e2e"] == whole["e2e"]


def test_glem_with_two_processes_hands_the_same_pseudo_labels_to_every_rank(runs):
    a, b = load(runs, "glem", 2, 0), load(runs, "glem", 2, 1)
    assert [row["model"] for row in a["history"]] == ["lm", "gnn", "lm", "gnn"]
    assert a["history"] == b["history"]  # every step's figures (but its time)
    assert [s for s, _, _ in a["pseudo"]] == ["gnn0->lm1", "lm1->gnn1"]
    for (_, ids_a, lab_a), (_, ids_b, lab_b) in zip(a["pseudo"], b["pseudo"], strict=True):
        assert ids_a.numel() > 0 and torch.equal(ids_a, ids_b) and torch.equal(lab_a, lab_b)
    for k, v in a["encoder"].items():
        assert torch.equal(v, b["encoder"][k]), k
    assert torch.equal(a["embeddings"], b["embeddings"])
    run = runs / "glem_run"  # rank 0 wrote the metrics; the step state of a finished run is gone
    assert (run / "metrics.csv").exists() and not (run / "glem_state.pt").exists()


def test_two_processes_equal_one_with_the_global_batch(runs):
    one = load(runs, "equal", 1, 0)
    two = [load(runs, "equal", 2, r) for r in (0, 1)]
    assert one["steps_per_epoch"] == two[0]["steps_per_epoch"] == 3
    # epoch losses: the mean over the ranks of each rank's mean loss (equal shards)
    mean = [(x + y) / 2 for x, y in zip(two[0]["losses"][1:], two[1]["losses"][1:], strict=True)]
    assert mean == pytest.approx(one["losses"][1:], abs=1e-5)
    # the same LM after two epochs (float32, sums in another order: 1e-5)
    for k, v in one["encoder"].items():
        torch.testing.assert_close(two[0]["encoder"][k], v, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(two[0]["embeddings"], one["embeddings"], atol=1e-5, rtol=1e-4)
    assert two[0]["e2e"] == pytest.approx(one["e2e"])


@pytest.mark.parametrize("fsdp", [False, True])
def test_nproc_flag_relaunches_under_torchrun(tiny_config, tiny_dataset, lm_dir, tmp_path, fsdp):
    config = tmp_path / "run.yaml"
    cfg = tiny_config(dataset=tiny_dataset, lm=lm_dir, save_model=fsdp, fsdp=fsdp)
    cfg.save(config)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "leading", "run", "--config", str(config), "--out", str(out),
         "--nproc", "2", "--threads", "1"], env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "torch.distributed.run --standalone --nproc-per-node=2" in done.stderr
    assert (out / "results.json").exists() and (out / "seed_0" / "embeddings.pt").exists()
    assert done.stdout.count("wrote ") == 1  # rank 0 alone reports and writes
    if fsdp:  # the sharded LM was gathered and saved whole: it gives the final embeddings
        from leading.data.datasets import load_dataset
        from leading.text.encoder import TextEncoder

        enc = TextEncoder.from_pretrained(out / "seed_0" / "model", cfg.pooling, cfg.max_length)
        emb = enc.encode_all(enc.tokenize(load_dataset(tiny_dataset).texts), progress=False)
        saved = torch.load(out / "seed_0" / "embeddings.pt")
        torch.testing.assert_close(emb, saved, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["die", "hang"])
def test_a_rank_that_dies_or_hangs_stops_the_job_with_a_clear_error(tmp_path, mode):
    start = time.monotonic()
    done = launch(mode, tmp_path, 2, LEADING_DIST_TIMEOUT_S="5")
    assert done.returncode != 0
    assert time.monotonic() - start < 120, "the surviving rank waited too long"
    if mode == "hang":  # rank 0 reaches the timeout and says so
        assert "leading: error: rank 0 of 2: the " in done.stderr, done.stderr[-3000:]
        assert "LEADING_DIST_TIMEOUT_S" in done.stderr and "--resume" in done.stderr
    else:  # torchrun names the rank that died and stops the other
        assert "exitcode" in done.stderr and "3" in done.stderr, done.stderr[-3000:]


def test_checkpoint_of_another_number_of_processes_is_refused():
    from leading.errors import ConfigError
    from leading.train.checkpoint import check_fingerprint

    saved = {"settings": {}, "seed": 0, "num_nodes": 3, "num_edges": 2, "world": 2}
    with pytest.raises(ConfigError, match=r"another run \(processes 2, now 1\)"):
        check_fingerprint(saved, {**saved, "world": 1}, "ckpt.pt")
