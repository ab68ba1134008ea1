r"""Several processes on :mod:`torch.distributed`: ``torchrun --nproc-per-node N -m leading run``.

One process is the default and nothing here changes it. Under ``torchrun`` (``WORLD_SIZE`` >
1 in the environment) :func:`init_distributed` joins the process group (``gloo`` on CPU,
``nccl`` on CUDA, one GPU per local rank) and the trainer runs data parallel:

* **Targets sharded.** Every rank draws the same epoch order; each step takes a global batch
  of ``batch_size x world`` targets and rank :math:`r` trains on its :math:`r`-th part, so an
  epoch has the steps of one process with ``batch_size x world``.
* **Gradients averaged** over the ranks after each backward pass (:func:`average_gradients`,
  one flat ``all_reduce``), so every replica of the LM and the head takes the same step. With
  the graph-less head this equals one process with the global batch (tested); with a graph head
  a target's loss also reads the other ranks' targets, which it sees with their fresh values
  but, like any neighbour under neighbour decoupling, without gradient.
* **One memory bank everywhere.** :class:`~leading.train.memory.ReplicatedMemory` (and
  :class:`~leading.data.store.ReplicatedTensorStore` for the propagation histories)
  all-gathers the :obj:`(ids, rows)` of every write before applying it, so every rank holds
  the same rows and the same encoding counters.
* **Pipeline 2 and whole-graph encodings sharded**: each rank encodes its part of the nodes
  and the rows are gathered.
* **Rank 0 alone writes** logs, checkpoints, results and models.

A rank that dies makes the others' next collective fail; the process group's timeout
(``LEADING_DIST_TIMEOUT_S``, default 1800 s) bounds a hang.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor

from leading.errors import ConfigError, DistributedError

__all__ = [
    "TRAFFIC",
    "all_gather_rows",
    "all_max",
    "all_to_all_rows",
    "all_sum",
    "broadcast",
    "average_gradients",
    "barrier",
    "gather_objects",
    "init_distributed",
    "is_main",
    "is_sharded",
    "rank",
    "shard",
    "world_size",
]


#: Bytes this process has sent through :func:`all_gather_rows` (``"rows"``) and
#: :func:`average_gradients` (``"gradients"``), counted as the tensors handed to the
#: collective (what a ring algorithm moves is about twice that for ``all_reduce``).
TRAFFIC = {"rows": 0, "gradients": 0}


def _collective(what: str, fn, *args) -> None:
    r"""Runs one collective; a failure (a peer died, hung past the timeout, or the network
    dropped) becomes a :class:`~leading.errors.DistributedError` naming this rank and what to
    do."""
    try:
        fn(*args)
    except (RuntimeError, ValueError) as e:
        timeout = os.environ.get("LEADING_DIST_TIMEOUT_S", "1800")
        raise DistributedError(
            f"rank {rank()} of {world_size()}: the {what} failed ({str(e).splitlines()[0]}); "
            f"another process died, hung for longer than the timeout ({timeout} s, "
            "LEADING_DIST_TIMEOUT_S) or lost the network. Rerun the same command with "
            "--resume to continue from the last checkpoint"
        ) from None


def _comm_device() -> torch.device:
    r"""Where the tensors of a collective live: the current GPU for ``nccl``, else the CPU
    (``gloo``); the functions here move their inputs there and their results back."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def is_sharded(t: Tensor) -> bool:
    r"""Whether :obj:`t` is a parameter (or state) sharded by FSDP (a ``DTensor``,
    :mod:`leading.fsdp`)."""
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)


def world_size() -> int:
    r"""Processes in the job (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    r"""This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    r"""Whether this process writes the files (rank 0)."""
    return rank() == 0


def init_distributed(device: str = "auto") -> int:
    r"""Joins the process group that ``torchrun`` describes in the environment
    (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); does nothing
    for one process or when already joined. Returns the world size.

    Args:
        device (str): The run's ``--device``; CUDA (``auto`` with a GPU) uses ``nccl`` and the
            GPU of the local rank, anything else ``gloo``.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or dist.is_initialized():
        return world_size()
    cuda = torch.cuda.is_available() and not str(device).startswith("cpu")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = timedelta(seconds=float(os.environ.get("LEADING_DIST_TIMEOUT_S", "1800")))
    try:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    except (RuntimeError, ValueError) as e:
        raise ConfigError(
            f"cannot join the process group of {size} processes ({e}); launch with torchrun "
            "(torchrun --nproc-per-node N -m leading run ...) or leading run --nproc N"
        ) from None
    return size


def all_gather_rows(ids: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    r"""Every rank's :obj:`(ids, values)`, concatenated in rank order (the same result on every
    rank); the inputs themselves for one process.

    Args:
        ids (Tensor): Node ids :obj:`[n_r]` (the count may differ between ranks).
        values (Tensor): Rows :obj:`[n_r, d]`.

    Returns:
        tuple[Tensor, Tensor]: :obj:`[sum n_r]` ids and :obj:`[sum n_r, d]` rows.
    """
    size = world_size()
    if size == 1:
        return ids, values
    values = values.detach()
    dtype = values.dtype
    device = _comm_device()
    send = values.to(device)
    if device.type == "cpu":  # gloo moves float32 (it has no bf16 / fp16 collectives)
        send = send.float()
    count = torch.tensor([ids.numel()], device=device)
    counts = [torch.zeros_like(count) for _ in range(size)]
    _collective("gather of memory rows", dist.all_gather, counts, count)
    n = [int(c) for c in counts]
    top = max(n)
    pad_ids = torch.zeros(top, dtype=torch.long, device=device)
    pad_ids[: ids.numel()] = ids.to(device)
    pad_rows = send.new_zeros(top, send.size(1))
    pad_rows[: ids.numel()] = send
    all_ids = [torch.empty_like(pad_ids) for _ in range(size)]
    all_rows = [torch.empty_like(pad_rows) for _ in range(size)]
    _collective("gather of memory rows", dist.all_gather, all_ids, pad_ids)
    _collective("gather of memory rows", dist.all_gather, all_rows, pad_rows)
    TRAFFIC["rows"] += pad_ids.numel() * 8 + pad_rows.numel() * pad_rows.element_size()
    out_ids = torch.cat([t[:k] for t, k in zip(all_ids, n, strict=True)])
    out_rows = torch.cat([t[:k] for t, k in zip(all_rows, n, strict=True)]).to(dtype)
    return out_ids.to(ids.device), out_rows.to(values.device)


def all_to_all_rows(rows: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    r"""Sends the first :obj:`counts[0]` rows of :obj:`rows` to rank 0, the next
    :obj:`counts[1]` to rank 1, and so on (one ``all_to_all``); returns the rows this rank
    received, ordered by the sending rank, and how many came from each. For one process:
    :obj:`rows` and :obj:`counts`.

    Args:
        rows (Tensor): :obj:`[sum(counts), ...]`, grouped by destination rank.
        counts (Tensor): :obj:`[W]` rows for each rank.

    Returns:
        tuple[Tensor, Tensor]: :obj:`[sum(received), ...]` rows (dtype and device of
        :obj:`rows`) and :obj:`[W]` received counts.
    """
    if world_size() == 1:
        return rows, counts
    device = _comm_device()
    send = rows.detach().to(device)
    if device.type == "cpu" and send.is_floating_point():  # gloo: float32 collectives
        send = send.float()
    counts = counts.to(device=device, dtype=torch.long)
    received = torch.empty_like(counts)
    _collective("exchange of memory rows", dist.all_to_all_single, received, counts)
    out = send.new_empty(int(received.sum()), *send.shape[1:])
    _collective("exchange of memory rows", dist.all_to_all_single, out, send,
                received.tolist(), counts.tolist())
    TRAFFIC["rows"] += send.numel() * send.element_size()
    return out.to(device=rows.device, dtype=rows.dtype), received.cpu()


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    r"""Replaces every gradient by its mean over the ranks (one flat ``all_reduce``). A
    parameter without a gradient on every rank keeps none (so an optimizer skips it as in one
    process: a frozen LM during the head warm-up); one with a gradient on some ranks gets the
    mean with zeros for the others. Parameters sharded by FSDP (:mod:`leading.fsdp`) are
    left alone: FSDP averages their gradients in its backward (reduce-scatter). Nothing happens
    for one process."""
    size = world_size()
    if size == 1:
        return
    params = [p for p in params if p.requires_grad and not is_sharded(p)]
    if not params:
        return
    device = _comm_device()
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=device)
    _collective("gradient average", dist.all_reduce, has)  # which have a gradient somewhere
    params = [p for p, k in zip(params, has.tolist(), strict=True) if k > 0]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads]).to(device)
    _collective("gradient average", dist.all_reduce, flat)
    TRAFFIC["gradients"] += flat.numel() * flat.element_size()
    flat /= size
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset: offset + n].view_as(p).to(p.device, copy=True)
        offset += n


def shard(items: Tensor, dim: int = -1) -> Tensor:
    r"""This rank's part of :obj:`items` along :obj:`dim` (``tensor_split`` into ``world``
    parts; the whole tensor for one process)."""
    size = world_size()
    return items if size == 1 else items.tensor_split(size, dim=dim)[rank()]


def gather_objects(obj: object) -> list:
    r"""Every rank's :obj:`obj` (picklable), in rank order; :obj:`[obj]` for one process."""
    size = world_size()
    if size == 1:
        return [obj]
    out: list = [None] * size
    _collective("gather of the checkpoint state", dist.all_gather_object, out, obj)
    return out


def all_sum(values: list[int]) -> list[int]:
    r"""The element-wise sum of :obj:`values` over the ranks (:obj:`values` for one process)."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.long, device=_comm_device())
    _collective("sum of counters", dist.all_reduce, t)
    return [int(v) for v in t]


def all_max(value: int) -> int:
    r"""The largest :obj:`value` over the ranks (:obj:`value` for one process)."""
    if world_size() == 1:
        return int(value)
    t = torch.tensor([int(value)], dtype=torch.long, device=_comm_device())
    _collective("maximum over the ranks", dist.all_reduce, t, dist.ReduceOp.MAX)
    return int(t)


def broadcast(t: Tensor) -> Tensor:
    r"""Rank 0's :obj:`t` on every rank (same shape and dtype everywhere); :obj:`t` for one
    process."""
    if world_size() == 1:
        return t
    send = t.detach().to(_comm_device())
    _collective("broadcast from rank 0", dist.broadcast, send, 0)
    return send.to(t.device)


def barrier() -> None:
    r"""Waits until every rank gets here (nothing for one process)."""
    if world_size() > 1:
        _collective("barrier", dist.barrier)
