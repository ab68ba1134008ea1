r"""``kill -9`` of a real ``leading run`` in the middle of an LM epoch, then ``--resume``: the
run finishes with the figures of an uninterrupted one (node classification and link
prediction), losing at most the epoch it was in."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def leading(config_path, out, *extra, nproc=1):
    return [sys.executable, "-m", "leading", "run", "--config", str(config_path), "--out",
            str(out), "--threads", "1", "--nproc", str(nproc), *extra]


def epochs_done(out) -> int:
    metrics = out / "seed_0" / "metrics.csv"
    return len(metrics.read_text().splitlines()) - 2 if metrics.exists() else -1


def flat(tree, prefix="") -> dict:
    r"""``{"a/b": leaf}`` for every leaf of nested dicts and lists, timings left out."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    out = {}
    for k, v in items:
        key = f"{prefix}/{k}"
        if isinstance(v, dict | list):
            out |= flat(v, key)
        elif "time" not in str(k):
            out[key] = v
    return out


@pytest.mark.parametrize(("task", "nproc"), [("node", 1), ("link", 1), ("node", 2)])
def test_kill_9_mid_epoch_then_resume_gives_the_uninterrupted_figures(
    task, nproc, tiny_config, tiny_dataset, lm_dir, tmp_path
):
    config = tmp_path / "config.yaml"
    changes = dict(epochs=6, patience=100, save_model=False)
    if task == "node":
        changes.update(pseudo_labels=1.0)  # epochs of 32 targets: 8 steps each
    else:
        changes.update(link_edges_per_epoch=40)
    tiny_config(task=task, dataset=tiny_dataset, lm=lm_dir, **changes).save(config)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    whole = subprocess.run(leading(config, tmp_path / "whole", nproc=nproc), env=env,
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    # its own session: kill -9 reaches torchrun and every rank of --nproc 2 at once
    proc = subprocess.Popen(leading(config, out, nproc=nproc), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while epochs_done(out) < 2 and proc.poll() is None:  # epoch 2's checkpoint is written
            assert time.monotonic() < deadline
            time.sleep(0.01)
        alive = proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert alive, "the run ended before it was killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    killed_at = epochs_done(out)
    assert 2 <= killed_at < 6 and (out / "seed_0" / "checkpoint.pt").exists()
    assert not (out / "results.json").exists()

    resumed = subprocess.run(leading(config, out, "--resume", nproc=nproc), env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "whole" / "results.json").read_text())["per_seed"][0]
    b = json.loads((out / "results.json").read_text())["per_seed"][0]
    assert b["best_epoch"] == a["best_epoch"]
    fa, fb = flat(a["e2e"]) | flat(a["downstream"]), flat(b["e2e"]) | flat(b["downstream"])
    assert fa.keys() == fb.keys()
    for k in fa:
        assert fb[k] == pytest.approx(fa[k], abs=1e-6), k
    lines_a = (tmp_path / "whole" / "seed_0" / "metrics.csv").read_text().splitlines()
    lines_b = (out / "seed_0" / "metrics.csv").read_text().splitlines()
    assert len(lines_b) == len(lines_a) == 1 + 1 + 6
    # the epochs' figures (all but their timing) are those of the uninterrupted run
    head = lines_a[0].split(",")
    keep = [i for i, k in enumerate(head) if "time" not in k]
    for la, lb in zip(lines_a[1:], lines_b[1:], strict=True):
        va, vb = la.split(","), lb.split(",")
        assert [va[i] for i in keep] == [vb[i] for i in keep]
