r"""What a training run leaves on disk: its checkpoint and its per-epoch metrics.

A checkpoint is written atomically (a temporary file, then a rename), so that a run killed while
saving never leaves a half-written one behind; :func:`load_checkpoint` reads it back and names
the file when it cannot. Each checkpoint carries a :func:`fingerprint` of the run (the settings
that shape the state, the seed, the graph's size); :func:`check_fingerprint` refuses to resume
a run with another one, and lists the other settings that changed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from leading.distributed import barrier, gather_objects, is_main, rank, world_size
from leading.errors import ConfigError, DataError

__all__ = [
    "Checkpointed",
    "STATE_SETTINGS",
    "check_fingerprint",
    "fingerprint",
    "load_checkpoint",
    "save_checkpoint",
    "write_metrics",
]

#: Settings a checkpoint's state depends on (its tensors' shapes, its data, its schedule): a run
#: resumes only from a checkpoint written with the same values. Other settings (learning rates,
#: patience, evaluation, runtime) may change between a run and its resume.
STATE_SETTINGS = (
    "dataset", "split", "task", "link_split", "method", "lm", "pooling", "max_length", "lora_r",
    "lora_target_modules", "head", "hidden", "link_dim", "link_decoder", "fanouts", "scope",
    "grad_hops", "batch_size", "grad_accum", "targets_per_epoch", "pseudo_labels",
    "memory_dtype", "memory_layout", "refresh_order", "fsdp",
)


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    r"""Saves :obj:`state` to :obj:`path` atomically (via ``path.tmp`` and a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> dict[str, Any] | None:
    r"""The state saved at :obj:`path`, or :obj:`None` when there is none.

    Raises:
        DataError: when the file exists but cannot be read (truncated, corrupt, not a
            checkpoint).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as e:  # torch raises several types for a damaged file
        raise DataError(
            f"{path}: cannot read this checkpoint ({type(e).__name__}: {e}); it is truncated "
            "or corrupt. Delete it to restart this seed from its beginning (finished seeds are "
            "kept), or run without --resume"
        ) from None
    if not isinstance(state, dict):
        raise DataError(f"{path}: not a leading checkpoint (found {type(state).__name__})")
    return state


def fingerprint(config: Any, seed: int, num_nodes: int, num_edges: int,
                world: int = 1) -> dict[str, Any]:
    r"""What a checkpoint must agree on to be resumed: the :data:`STATE_SETTINGS`, the seed,
    the graph's size and the number of processes, plus every other setting (for the list of
    changes)."""
    values = config.to_dict() if hasattr(config, "to_dict") else dict(vars(config))
    return {"settings": values, "seed": seed, "num_nodes": num_nodes, "num_edges": num_edges,
            "world": world}


def check_fingerprint(saved: dict[str, Any] | None, current: dict[str, Any],
                      path: str | Path) -> list[str]:
    r"""Raises :class:`~leading.errors.ConfigError` when the checkpoint at :obj:`path` (with
    fingerprint :obj:`saved`) belongs to another run than :obj:`current`; returns the other
    settings that changed, as ``"key: old -> new"``. A checkpoint without a fingerprint (older
    versions) is accepted."""
    if saved is None:
        return []
    where = f"{path}: this checkpoint was written by another run"
    fix = ("; rerun with the checkpoint's settings, or without --resume, or with another --out")
    for key, what in (("num_nodes", "nodes"), ("num_edges", "edges"), ("seed", "seed"),
                      ("world", "processes")):
        if saved.get(key, 1 if key == "world" else None) != current[key]:
            raise ConfigError(f"{where} ({what} {saved.get(key)}, now {current[key]}){fix}")
    old, new = saved.get("settings", {}), current["settings"]
    differ = [k for k in STATE_SETTINGS if k in old and k in new and old[k] != new[k]]
    if differ:
        diffs = ", ".join(f"{k} {old[k]!r}, now {new[k]!r}" for k in differ)
        raise ConfigError(f"{where} ({diffs}){fix}")
    return [f"{k}: {old[k]!r} -> {new[k]!r}" for k in new
            if k in old and old[k] != new[k] and k not in ("resume",)]


def write_metrics(rows: list[dict[str, Any]], path: str | Path) -> None:
    r"""Writes one CSV row per dict of :obj:`rows` (the keys of the first row as the header;
    floats with 6 significant digits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    lines = [",".join(keys)]
    lines += [",".join(f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys)
              for r in rows]
    path.write_text("\n".join(lines) + "\n")


class Checkpointed:
    r"""Checkpointing of a :class:`~leading.train.trainer.Trainer`: its state (the plain values
    it lists in ``_PLAIN_STATE``, the objects ``_stateful()`` returns, every random generator,
    the :func:`fingerprint`) saved to and restored from ``run_dir/checkpoint.pt``.

    The class using it provides ``run_dir``, ``cfg``, ``seed``, ``task``, ``sampler``, ``gen``,
    ``history``, ``_PLAIN_STATE`` and ``_stateful()``.
    """

    _PLAIN_STATE: tuple[str, ...] = ()
    run_dir: Path | None

    def _stateful(self) -> dict[str, Any]:
        raise NotImplementedError

    def _shared(self) -> dict[str, Any]:
        return {k: o for k, o in self._stateful().items() if not getattr(o, "per_rank", False)}

    def _own(self) -> dict[str, Any]:
        r"""The objects each rank checkpoints itself (``per_rank = True``: a sharded memory)."""
        return {k: o for k, o in self._stateful().items() if getattr(o, "per_rank", False)}

    def state_dict(self) -> dict:
        r"""Everything a resumed run needs to continue exactly: the modules, optimiser, memory,
        pipeline 2, task state, every random generator and the history (not the state of the
        objects each rank saves itself, :meth:`_own`)."""
        return {
            **{k: getattr(self, k) for k in self._PLAIN_STATE},
            **{k: obj.state_dict() for k, obj in self._shared().items()},
            "gen": self.gen.get_state(),
            # what differs between the ranks of several processes, one entry per rank
            "ranks": gather_objects(self.rank_state()),
            "fingerprint": self.fingerprint(),
        }

    def rank_state(self) -> dict[str, Any]:
        r"""This process's own random generators (neighbour sampling, the batches' draws,
        dropout on the CPU and on a GPU)."""
        return {
            "sampler_rng": self.sampler.generator.get_state(),
            "rank_gen": self.rank_gen.get_state() if self.rank_gen is not self.gen else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    def fingerprint(self) -> dict[str, Any]:
        r"""The run a checkpoint belongs to (:func:`~leading.train.checkpoint.fingerprint`)."""
        return fingerprint(self.cfg, self.seed, self.task.num_nodes,
                           int(self.task.edge_index.size(1)), world_size())

    def load_state_dict(self, state: dict) -> None:
        for k in self._PLAIN_STATE:
            setattr(self, k, state[k] if k != "step_times" else state.get(k, []))
        for k, obj in self._shared().items():
            obj.load_state_dict(state[k])
        self.gen.set_state(state["gen"])
        own = state["ranks"][rank()] if "ranks" in state else state  # older: one process
        self.sampler.generator.set_state(own["sampler_rng"])
        if own.get("rank_gen") is not None:
            self.rank_gen.set_state(own["rank_gen"])
        torch.set_rng_state(own["torch_rng"])
        if own.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(own["cuda_rng"])

    def _shard_path(self, tag: int) -> Path:
        assert self.run_dir is not None
        return self.run_dir / f"checkpoint.rank{rank()}.save{tag}.pt"

    def save_checkpoint(self) -> None:
        r"""Writes ``run_dir/checkpoint.pt`` (atomically) and the metrics so far (rank 0 of
        several processes; every rank takes part in gathering the state). The objects of
        :meth:`_own` go to one file per rank, ``checkpoint.rank{r}.save{k}.pt``, written
        before ``checkpoint.pt`` names save :math:`k`; rank 0 then removes the older ones, so a
        run killed at any moment leaves a ``checkpoint.pt`` whose shards are all there."""
        if self.run_dir is None:
            return
        state = self.state_dict()
        own = self._own()
        if own:
            tag = len(self.history)  # one save per recorded epoch
            save_checkpoint({k: o.state_dict() for k, o in own.items()}, self._shard_path(tag))
            barrier()  # every shard is on disk before checkpoint.pt names them
            state["shards"] = {"save": tag}
        if not is_main():
            return
        save_checkpoint(state, self.run_dir / "checkpoint.pt")
        write_metrics(self.history, self.run_dir / "metrics.csv")
        self.remove_shards(keep=state.get("shards", {}).get("save"))

    def remove_shards(self, keep: int | None = None) -> None:
        r"""Deletes the per-rank checkpoint files (but those of save :obj:`keep`)."""
        if self.run_dir is not None:
            for path in self.run_dir.glob("checkpoint.rank*.save*.pt"):
                if keep is None or not path.name.endswith(f".save{keep}.pt"):
                    path.unlink(missing_ok=True)

    def load_checkpoint(self) -> bool:
        r"""Restores ``run_dir/checkpoint.pt`` if there is one; returns whether it did."""
        if self.run_dir is None:
            return False
        path = self.run_dir / "checkpoint.pt"
        state = load_checkpoint(path)
        if state is None:
            return False
        changed = check_fingerprint(state.get("fingerprint"), self.fingerprint(), path)
        if changed:
            print(f"leading: resuming {path} with changed settings: {'; '.join(changed)}",
                  file=sys.stderr)
        self.load_state_dict(state)
        own = self._own()
        if own:
            tag = state.get("shards", {}).get("save")
            shard = self._shard_path(tag)
            part = load_checkpoint(shard) if tag is not None else None
            if part is None:
                raise DataError(
                    f"{path}: this checkpoint's part of rank {rank()} ({shard.name}) is "
                    "missing; copy every checkpoint.rank*.pt of the run into its --out, or "
                    "run without --resume")
            for k, obj in own.items():
                obj.load_state_dict(part[k])
        return True
