r"""Fine-tuning: the two-pipeline trainer, its tasks, the memory, pipeline 2, the methods."""

from leading.graph.head import build_head
from leading.train.link import LinkTask, LinkTrainer
from leading.train.memory import EmbeddingMemory
from leading.train.node import LeadingTrainer, NodeTask
from leading.train.refresh import MemoryRefresh, influence_weights
from leading.train.result import TrainResult, peak_rss_mb
from leading.train.task import Task
from leading.train.trainer import Trainer

__all__ = [
    "EmbeddingMemory",
    "LeadingTrainer",
    "LinkTask",
    "LinkTrainer",
    "MemoryRefresh",
    "NodeTask",
    "Task",
    "TrainResult",
    "Trainer",
    "build_head",
    "influence_weights",
    "peak_rss_mb",
]
