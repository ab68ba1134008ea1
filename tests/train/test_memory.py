import io

import pytest
import torch

from leading.train.memory import MEMORY_DTYPES, EmbeddingMemory, memory_dtype


def rows(*values):
    return torch.tensor(values, dtype=torch.float32)


def test_counters_filled_and_values_on_a_hand_example():
    m = EmbeddingMemory(5, 2)
    assert m.read(torch.arange(5)).eq(0).all() and not m.filled.any()
    assert m.counters() == {"with_grad": 0, "without_grad": 0, "total": 0}

    m.write(torch.tensor([0, 2]), rows([1, 1], [2, 2]), with_grad=True)
    m.write(torch.tensor([2, 3]), rows([3, 3], [4, 4]), with_grad=False)
    m.write(torch.tensor([0]), rows([5, 5]), with_grad=True)

    assert m.grad_encodings.tolist() == [2, 0, 1, 0, 0]
    assert m.free_encodings.tolist() == [0, 0, 1, 1, 0]
    assert m.counters() == {"with_grad": 3, "without_grad": 2, "total": 5}
    assert m.filled.tolist() == [True, False, True, True, False]
    # the last write wins; never written rows read as zeros
    assert m.read(torch.arange(5)).tolist() == [[5, 5], [0, 0], [3, 3], [4, 4], [0, 0]]
    assert m.read(torch.tensor([3, 0])).tolist() == [[4, 4], [5, 5]]


def test_a_repeated_id_counts_one_encoding_per_occurrence():
    m = EmbeddingMemory(3, 2)
    m.write(torch.tensor([1, 1, 2]), rows([7, 7], [7, 7], [8, 8]), with_grad=False)
    assert m.free_encodings.tolist() == [0, 2, 1]
    assert m.counters()["total"] == 3
    assert m.read(torch.tensor([1])).tolist() == [[7, 7]]


def test_last_write_and_staleness_follow_the_step_clock():
    m = EmbeddingMemory(5, 2)
    m.write(torch.tensor([0, 2]), torch.ones(2, 2), with_grad=True)  # step 0
    assert m.tick() == 1
    m.write(torch.tensor([2, 3]), torch.ones(2, 2), with_grad=False)  # step 1
    m.tick()
    assert m.tick() == 3 and m.step == 3
    assert m.last_write.tolist() == [0, -1, 1, 1, -1]
    assert m.staleness().tolist() == [3, -1, 2, 2, -1]
    assert m.staleness(torch.tensor([3, 1, 0])).tolist() == [2, -1, 3]
    m.write(torch.tensor([0]), torch.ones(1, 2), with_grad=True)  # step 3
    assert m.staleness().tolist() == [0, -1, 2, 2, -1]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_storage_reads_float32(dtype):
    m = EmbeddingMemory(4, 3, dtype=dtype)
    x = torch.tensor([[1.0, 1.0 / 3.0, -2.5], [1e-3, 7.0, 0.1]])
    m.write(torch.tensor([1, 3]), x, with_grad=False)
    assert m.values.dtype == dtype
    out = m.read(torch.tensor([1, 3]))
    assert out.dtype == torch.float32
    assert torch.equal(out, x.to(dtype).float())
    assert not torch.equal(out, x)  # 1/3 is not representable: the rounding really happened


def test_float32_storage_is_exact_and_other_dtypes_are_refused():
    m = EmbeddingMemory(2, 3)
    x = torch.randn(2, 3)
    m.write(torch.tensor([1, 0]), x, with_grad=True)
    assert torch.equal(m.read(torch.tensor([1, 0])), x)
    with pytest.raises(ValueError, match="float32, bfloat16 or float16"):
        EmbeddingMemory(2, 3, dtype=torch.float64)


def test_writes_are_detached_copies():
    m = EmbeddingMemory(3, 2)
    leaf = torch.randn(2, 2, requires_grad=True)
    h = leaf * 2.0  # non-leaf with a graph
    m.write(torch.tensor([0, 1]), h, with_grad=True)
    assert not m.values.requires_grad and m.values.grad_fn is None
    out = m.read(torch.arange(3))
    assert not out.requires_grad and out.grad_fn is None
    # the stored rows are a copy: changing the source afterwards does not change the memory
    before = m.read(torch.tensor([0, 1])).clone()
    with torch.no_grad():
        h.add_(100.0)
    assert torch.equal(m.read(torch.tensor([0, 1])), before)
    # and reading returns a copy too
    out[0] = 42.0
    assert torch.equal(m.read(torch.tensor([0, 1])), before)


def test_shape_error_message():
    m = EmbeddingMemory(4, 3)
    with pytest.raises(ValueError, match=r"expected values of shape \[2, 3\], got \[3, 3\]"):
        m.write(torch.tensor([0, 1]), torch.zeros(3, 3), with_grad=False)
    with pytest.raises(ValueError, match=r"expected values of shape \[2, 3\], got \[2, 4\]"):
        m.write(torch.tensor([0, 1]), torch.zeros(2, 4), with_grad=False)
    with pytest.raises(ValueError, match=r"expected values of shape \[1, 3\], got \[3\]"):
        m.write(torch.tensor([0]), torch.zeros(3), with_grad=False)
    assert m.counters()["total"] == 0 and not m.filled.any()  # nothing half-written


def test_state_dict_round_trip():
    m = EmbeddingMemory(6, 4, dtype=torch.bfloat16)
    m.write(torch.tensor([0, 5]), torch.randn(2, 4), with_grad=True)
    m.tick()
    m.write(torch.tensor([1, 5, 2]), torch.randn(3, 4), with_grad=False)
    m.tick()
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)

    m2 = EmbeddingMemory(6, 4, dtype=torch.bfloat16)
    m2.load_state_dict(torch.load(buf))
    for k in ("values", "filled", "last_write", "grad_encodings", "free_encodings"):
        assert torch.equal(getattr(m2, k), getattr(m, k)), k
    assert m2.step == m.step == 2
    assert m2.counters() == m.counters() == {"with_grad": 2, "without_grad": 3, "total": 5}
    assert torch.equal(m2.staleness(), m.staleness())
    # the loaded memory owns its tensors
    m2.write(torch.tensor([3]), torch.ones(1, 4), with_grad=False)
    assert not m.filled[3] and m2.filled[3]

    msg = r"memory checkpoint has shape \[6, 4\], expected \[6, 5\]"
    with pytest.raises(ValueError, match=msg):
        EmbeddingMemory(6, 5).load_state_dict(m.state_dict())


def test_reset_parameters_and_repr():
    m = EmbeddingMemory(3, 2, dtype=torch.bfloat16)
    m.write(torch.tensor([0, 1]), torch.ones(2, 2), with_grad=True)
    m.tick()
    assert repr(m) == "EmbeddingMemory(num_nodes=3, dim=2, dtype=bfloat16, filled=2, step=1)"
    m.reset_parameters()
    assert m.step == 0 and m.counters()["total"] == 0 and not m.filled.any()
    assert m.values.eq(0).all() and m.last_write.eq(-1).all()
    assert m.staleness().tolist() == [-1, -1, -1]


def test_the_memory_is_a_node_store_and_a_plain_write_counts_without_grad():
    from leading.data.store import NodeStore

    m = EmbeddingMemory(4, 2)
    assert isinstance(m, NodeStore)
    store: NodeStore = m
    store.write(torch.tensor([3, 1]), rows([1, 2], [3, 4]))  # the interface's write
    assert m.counters() == {"with_grad": 0, "without_grad": 2, "total": 2}
    assert store.read(torch.tensor([1, 3])).tolist() == [[3, 4], [1, 2]]
    assert m.last_write.tolist() == [-1, 0, -1, 0]
    m.write(torch.tensor([0]), rows([5, 6]), with_grad=True)
    assert m.counters()["with_grad"] == 1


# ------------------------------------------------------------------ storage type and placement
def test_memory_dtype_names_match_the_config():
    from leading.config import MEMORY_DTYPES as SETTINGS

    assert tuple(MEMORY_DTYPES) == SETTINGS
    assert [memory_dtype(n) for n in SETTINGS] == [torch.float32, torch.float16, torch.bfloat16]
    assert memory_dtype("float16") is memory_dtype(" FP16") is memory_dtype(torch.float16)
    for bad in ("fp64", "int8", torch.float64):
        with pytest.raises(ValueError, match="unknown memory dtype .*fp32, fp16, bf16"):
            memory_dtype(bad)


@pytest.mark.parametrize("name, rtol", [("fp16", 2**-11), ("bf16", 2**-8)])
def test_half_storage_reads_float32_within_its_rounding_in_half_the_bytes(name, rtol):
    x = torch.randn(50, 384, generator=torch.Generator().manual_seed(0))
    full, half = EmbeddingMemory(50, 384), EmbeddingMemory(50, 384, dtype=name)
    assert half.dtype == memory_dtype(name) and half.values.dtype == memory_dtype(name)
    assert half.nbytes * 2 == full.nbytes == 50 * 384 * 4
    for m in (full, half):
        m.write(torch.arange(50), x)
    assert torch.equal(full.read(torch.arange(50)), x)
    out = half.read(torch.arange(50))
    assert out.dtype == torch.float32 and not torch.equal(out, x)
    torch.testing.assert_close(out, x, rtol=rtol, atol=0)  # round to nearest: half an ulp


def test_pin_memory_is_for_cuda_devices_only():
    for pin in (True, "auto"):
        m = EmbeddingMemory(3, 2, device="cpu", pin_memory=pin)
        assert not m.pinned and m.device == torch.device("cpu")
        m.write(torch.tensor([2]), rows([1, 2]))
        assert m.read(torch.tensor([2, 0])).tolist() == [[1, 2], [0, 0]]
    with pytest.raises(ValueError, match="pin_memory must be a bool or 'auto'"):
        EmbeddingMemory(3, 2, pin_memory="yes")


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_pinned_host_rows_round_trip_like_rows_on_the_gpu(dtype):
    dev = torch.device("cuda")
    pinned = EmbeddingMemory(100, 16, dtype=dtype, device=dev, pin_memory=True)
    on_gpu = EmbeddingMemory(100, 16, dtype=dtype, device=dev)
    assert pinned.pinned and pinned.values.device.type == "cpu" and pinned.values.is_pinned()
    assert not on_gpu.pinned and on_gpu.values.device.type == "cuda"
    assert pinned.nbytes == on_gpu.nbytes
    g = torch.Generator().manual_seed(0)
    prefill = torch.randn(100, 16, generator=g)  # from the CPU, like the trainer's prefill
    step = torch.randn(8, 16, generator=g).to(dev)  # from the GPU, like pipeline 1
    ids = torch.randperm(100, generator=g)[:8].to(dev)
    for m in (pinned, on_gpu):
        m.write(torch.arange(100), prefill, with_grad=False)
        m.tick()
        m.write(ids, step, with_grad=True)
    for read_ids in (torch.arange(100, device=dev), ids, ids.cpu(), torch.tensor([5, 5, 0])):
        a, b = pinned.read(read_ids), on_gpu.read(read_ids)
        assert a.device.type == "cuda" and a.dtype == torch.float32
        assert torch.equal(a, b)
    torch.testing.assert_close(pinned.read(ids), step, rtol=2**-11, atol=0)
    assert pinned.counters() == on_gpu.counters() == {"with_grad": 8, "without_grad": 100,
                                                      "total": 108}
    assert torch.equal(pinned.staleness(ids).cpu(), on_gpu.staleness(ids).cpu())
    # checkpoints move between the two placements
    back = EmbeddingMemory(100, 16, dtype=dtype, device=dev, pin_memory=True)
    back.load_state_dict(on_gpu.state_dict())
    assert back.values.is_pinned() and torch.equal(back.read(ids), on_gpu.read(ids))
    assert "pinned" in repr(back)


@pytest.mark.cuda
@cuda
def test_auto_pins_only_a_memory_too_large_for_the_device(monkeypatch):
    import leading.train.memory as memory_module

    assert not EmbeddingMemory(10, 4, device="cuda", pin_memory="auto").pinned
    monkeypatch.setattr(memory_module, "AUTO_PIN_FRACTION", 0.0)
    assert EmbeddingMemory(10, 4, device="cuda", pin_memory="auto").pinned
