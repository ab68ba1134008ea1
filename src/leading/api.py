r"""The Python API: fine-tune an LM on your own graph in a few lines.

.. code-block:: python

    import leading

    graph = leading.TextAttributedGraph(texts, edge_index, y=labels)
    result = leading.finetune(graph, lm="minilm", max_length=128)
    result.encoder          # the fine-tuned TextEncoder (result.encoder.save_pretrained(path))
    result.embeddings       # [N, d] node embeddings from it
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from leading.config import Config
from leading.data.graph import TextAttributedGraph
from leading.data.splits import make_split
from leading.text.encoder import TextEncoder
from leading.text.lora import maybe_apply_lora
from leading.train import LeadingTrainer, TrainResult

__all__ = ["finetune"]


def finetune(
    graph: TextAttributedGraph,
    lm: str | TextEncoder = "minilm",
    splits: dict[str, Tensor] | None = None,
    seed: int = 0,
    run_dir: str | Path | None = None,
    **settings: Any,
) -> TrainResult:
    r"""Fine-tunes a language model end to end with a GNN head on :obj:`graph` (LEADING).

    Args:
        graph (TextAttributedGraph): A labelled graph.
        lm (str or TextEncoder): Model alias, local path or hub name (loaded in the
            :obj:`precision` setting, ``auto`` by default: bf16 autocast only where the device
            runs it natively), or a ready encoder (kept in its own precision).
        splits (dict, optional): ``train``/``valid``/``test`` node ids; default: the graph's own
            splits if it has them, else the :obj:`split` setting (20 per class) drawn with
            :obj:`seed`.
        seed (int): Seed of the split (when drawn) and of training.
        run_dir (str or Path, optional): Where checkpoints and ``metrics.csv`` go.
        **settings: Any :class:`~leading.config.Config` field, e.g. ``epochs=3``,
            ``lr_lm=1e-5``, ``max_length=128``, ``lora_r=8`` (LoRA adapters; the encoder
            is wrapped in place and ``result.encoder.save_pretrained`` saves it merged).

    Returns:
        TrainResult: the fine-tuned encoder, embeddings :obj:`[N, d]`, per-epoch history,
        cost statistics and the end-to-end head's own accuracy.

    Raises:
        ConfigError: for a setting that is not a :class:`~leading.config.Config` field, or an
            invalid value.
    """
    cfg = Config.from_dict({"lm": lm if isinstance(lm, str) else lm.name, **settings}, "finetune")
    if splits is None:
        splits = dict(graph.splits) if graph.splits else make_split(graph, cfg.split, seed)
    if isinstance(lm, TextEncoder):
        encoder = lm
    else:
        encoder = TextEncoder.from_pretrained(
            lm, cfg.pooling, cfg.max_length, cfg.precision, cfg.torch_device()
        )
    trainable = maybe_apply_lora(  # LoRA adapters when lora_r > 0
        encoder, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules, seed=seed
    )
    result = LeadingTrainer(graph, splits, encoder, cfg, run_dir=run_dir, seed=seed).fit()
    result.stats["trainable_params"] = trainable
    return result
