"""leading: end-to-end fine-tuning of language models on text-attributed graphs."""

from leading.api import finetune
from leading.data import load_dataset
from leading.data.graph import TextAttributedGraph
from leading.errors import ConfigError, DataError, LeadingError, ModelError

__version__ = "0.1.0"

__all__ = [
    "TextAttributedGraph",
    "finetune",
    "load_dataset",
    "LeadingError",
    "DataError",
    "ModelError",
    "ConfigError",
    "__version__",
]
