r"""Two CPU processes on torch.distributed (gloo), launched by torchrun as a user would: the
replicas stay identical, and two processes reproduce one process with the same global batch."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "distributed_worker.py"


def launch(mode: str, out: Path, nproc: int, **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env_vars}
    cmd = [sys.executable, str(WORKER), mode, str(out)]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={nproc}", *cmd[1:]]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 or mode in ("die", "hang"), done.stderr[-3000:]
    return done


def load(out: Path, mode: str, world: int, rank: int) -> dict:
    return torch.load(out / f"{mode}_w{world}_r{rank}.pt", weights_only=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    launch("equal", out, 1)
    launch("equal", out, 2)
    launch("banks", out, 2)
    launch("sharded", out, 2)
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


def test_nproc_flag_relaunches_under_torchrun(tiny_config, tiny_dataset, lm_dir, tmp_path):
    config = tmp_path / "run.yaml"
    tiny_config(dataset=tiny_dataset, lm=lm_dir, save_model=False).save(config)
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
