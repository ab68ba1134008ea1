"""The propagation histories: two per-node stores (X_L and G_0) that always have the same rows."""

from __future__ import annotations

import io

import pytest
import torch

from leading.data.store import NodeStore, TensorStore
from leading.graph.history import PropagationHistory


def test_history_interface():
    hist = PropagationHistory()
    assert "empty" in repr(hist)
    assert not hist.filled_x(torch.tensor([0, 5])).any()
    with pytest.raises(RuntimeError, match="empty"):
        hist.pull_x(torch.tensor([0]))
    hist.push_x(torch.tensor([2, 0]), torch.ones(2, 4))
    assert hist.num_nodes == 3 and hist.num_channels == 4 and hist.allocated
    assert hist.pull_g(torch.arange(3)).eq(0).all()  # allocated with x, unfilled
    hist.push_g(torch.tensor([6]), torch.full((1, 4), 2.0))  # grows (no fixed size)
    assert hist.num_nodes == 7 and hist.x.num_nodes == hist.g.num_nodes == 7
    mask = hist.filled_x(torch.tensor([0, 1, 2, 6, 9]))
    assert mask.tolist() == [True, False, True, False, False]
    assert hist.pull_x(torch.tensor([1, 2, 9])).tolist() == [[0.0] * 4, [1.0] * 4, [0.0] * 4]
    assert hist.pull_g(torch.tensor([6])).tolist() == [[2.0] * 4]
    assert "x_filled=2" in repr(hist) and "g_filled=1" in repr(hist)
    with pytest.raises(ValueError):
        hist.push_x(torch.tensor([0]), torch.ones(1, 3))
    fixed = PropagationHistory(num_nodes=4)
    with pytest.raises(IndexError):
        fixed.push_x(torch.tensor([4]), torch.ones(1, 2))
    with pytest.raises(IndexError):
        hist.push_x(torch.tensor([-1]), torch.ones(1, 4))
    hist.reset()
    assert not hist.filled_x(torch.arange(7)).any() and not hist.filled_g(torch.arange(7)).any()
    assert hist.num_nodes == 7  # storage kept


def test_both_histories_are_node_stores():
    hist = PropagationHistory(num_nodes=5, dtype=torch.float64)
    assert isinstance(hist.x, NodeStore) and isinstance(hist.g, NodeStore)
    values = torch.randn(2, 3)
    hist.push_g(torch.tensor([4, 1]), values)
    # the writes went through the store interface: read back by node id, in the store's dtype
    assert torch.equal(hist.g.read(torch.tensor([1, 4])), values.double().flip(0))
    assert torch.equal(hist.pull_g(torch.tensor([1, 4])), hist.g.read(torch.tensor([1, 4])))
    assert hist.x.dim == hist.g.dim == 3 and hist.x.num_nodes == 5
    assert not hist.x.is_filled(torch.arange(5)).any()


def test_writes_are_detached_and_values_move_to_the_storage_dtype():
    hist = PropagationHistory(dtype=torch.float32)
    leaf = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    hist.push_x(torch.arange(3), leaf * 2)
    stored = hist.pull_x(torch.arange(3))
    assert stored.dtype == torch.float32 and not stored.requires_grad
    assert torch.equal(stored, (leaf * 2).detach().float())


def test_state_dict_format_and_round_trip():
    hist = PropagationHistory()
    hist.push_x(torch.tensor([0, 3]), torch.randn(2, 2))
    hist.push_g(torch.tensor([1]), torch.randn(1, 2))
    state = hist.state_dict()
    assert sorted(state) == ["g", "g_filled", "x", "x_filled"]  # the format of checkpoints
    assert state["x"].shape == state["g"].shape == (4, 2)
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    restored = PropagationHistory()
    restored.load_state_dict(torch.load(buf, weights_only=True))
    for key, value in restored.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert restored.num_nodes == 4 and restored.num_channels == 2
    restored.push_x(torch.tensor([2]), torch.ones(1, 2))  # owns its tensors
    assert not hist.filled_x(torch.tensor([2])).any()

    empty = PropagationHistory().state_dict()
    assert empty["x"].shape == (0, 0) and empty["x_filled"].shape == (0,)
    restored.load_state_dict(empty)
    assert not restored.allocated and restored.num_nodes is None
    fixed = PropagationHistory(num_nodes=4)
    fixed.load_state_dict(empty)
    assert fixed.num_nodes == 4 and not fixed.allocated
    with pytest.raises(ValueError, match="nodes"):
        PropagationHistory(num_nodes=5).load_state_dict(state)
    with pytest.raises(ValueError, match="channels"):
        PropagationHistory(num_channels=3).load_state_dict(state)


def test_custom_store_class():
    """The seam of the multi-process issue: another TensorStore class sees every write."""
    seen = []

    class Recording(TensorStore):
        def write(self, ids, values):
            seen.append(torch.as_tensor(ids).tolist())
            super().write(ids, values)

    hist = PropagationHistory(store=Recording)
    hist.push_x(torch.tensor([1, 2]), torch.ones(2, 3))
    hist.push_g(torch.tensor([0]), torch.ones(1, 3))
    assert seen == [[1, 2], [0]]
    assert isinstance(hist.x, Recording) and isinstance(hist.g, Recording)
