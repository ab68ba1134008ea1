"""The per-node store interface, checked through NodeStore alone for both implementations: the
propagation histories' TensorStore and the embedding memory."""

from __future__ import annotations

import io

import pytest
import torch

from leading.data.store import NodeStore, TensorStore
from leading.train.memory import EmbeddingMemory

N, D = 6, 3


def _stores() -> dict[str, NodeStore]:
    return {
        "tensor_store": TensorStore(),
        "tensor_store_fixed": TensorStore(num_nodes=N, dim=D),
        "embedding_memory": EmbeddingMemory(N, D),
    }


@pytest.mark.parametrize("name", list(_stores()))
def test_read_write_state_dict_round_trip(name):
    store = _stores()[name]
    assert isinstance(store, NodeStore)
    first = torch.randn(2, D)
    second = torch.randn(3, D)
    store.write(torch.tensor([5, 1]), first)
    store.write(torch.tensor([1, 0, 3]), second)  # node 1 written twice: the last write wins
    assert store.num_nodes == N and store.dim == D
    ids = torch.tensor([0, 1, 2, 3, 5])
    expected = torch.stack([second[1], second[0], torch.zeros(D), second[2], first[0]])
    assert torch.equal(store.read(ids), expected)

    buf = io.BytesIO()
    torch.save(store.state_dict(), buf)
    buf.seek(0)
    restored = _stores()[name]
    restored.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(restored.read(ids), expected)
    restored.write(torch.tensor([2]), torch.ones(1, D))  # the restored store owns its rows
    assert store.read(torch.tensor([2])).eq(0).all()

    store.reset_parameters()
    assert store.read(torch.arange(N)).eq(0).all()
    assert torch.equal(restored.read(torch.tensor([2])), torch.ones(1, D))


def test_node_store_is_abstract():
    with pytest.raises(TypeError):
        NodeStore()  # type: ignore[abstract]


def test_tensor_store_growth_and_errors():
    store = TensorStore()
    assert "empty" in repr(store) and not store.allocated
    assert not store.is_filled(torch.tensor([0, 3])).any()
    with pytest.raises(RuntimeError, match="empty"):
        store.read(torch.tensor([0]))
    store.write(torch.tensor([1]), torch.ones(1, 2, dtype=torch.float64))
    assert (store.num_nodes, store.dim, store.dtype) == (2, 2, torch.float64)
    store.write(torch.tensor([4]), torch.ones(1, 2))  # grows; values cast to the storage dtype
    assert store.num_nodes == 5 and store.values.dtype == torch.float64
    assert store.is_filled(torch.tensor([0, 1, 4, 9])).tolist() == [False, True, True, False]
    assert store.read(torch.tensor([4, 9])).tolist() == [[1.0, 1.0], [0.0, 0.0]]
    assert "filled=2" in repr(store)
    with pytest.raises(ValueError, match="channels"):
        store.write(torch.tensor([0]), torch.ones(1, 3))
    with pytest.raises(ValueError, match="shape"):
        store.write(torch.tensor([0, 1]), torch.ones(1, 2))
    with pytest.raises(IndexError):
        store.write(torch.tensor([-1]), torch.ones(1, 2))
    fixed = TensorStore(num_nodes=3)
    with pytest.raises(IndexError):
        fixed.write(torch.tensor([3]), torch.ones(1, 2))
    ints = TensorStore()
    ints.write(torch.tensor([0]), torch.ones(1, 2, dtype=torch.long))
    assert ints.dtype == torch.float32  # integer values are stored as float32
