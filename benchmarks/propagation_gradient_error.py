r"""How accurate are LEADING's warm-started forward and iterative backward under changing batches?

A study (not a test) of :class:`leading.graph.implicit.ImplicitPropagation` on the real Cora
graph (N = 2708). A slowly drifting random input :math:`\mathbf{X}_{\text{in}}^k` (7 channels,
AR(1) drift, like the logits of a model being trained) is propagated at every step :math:`k`; the
loss is the cross-entropy of a *different* random batch of 32 target nodes at each step (Cora
labels). Each step's approximate gradient :math:`\mathbf{G}_0` is compared with the exact
implicit gradient

.. math::
    \mathbf{G}_* = \alpha(\mathbf{I}-(1-\alpha)\hat{\mathbf{A}})^{-\top}
    \frac{\partial\mathcal{L}}{\partial\mathbf{X}_*}, \qquad
    \mathbf{X}_* = \alpha(\mathbf{I}-(1-\alpha)\hat{\mathbf{A}})^{-1}\mathbf{X}_{\text{in}},

computed with a dense LU factorization in float64. Experiments:

* ``backward``: the backward alone, fed the exact :math:`\partial\mathcal{L}/\partial\mathbf{X}_*`
  (isolates the backward start: history = eq. 6, damped, grad = Appendix A, zero).
* ``end_to_end``: the real loop, loss on :math:`\mathbf{X}_L`, with and without forward warm start.
* ``forward``: forward error :math:`\|\mathbf{X}_L-\mathbf{X}_*\|/\|\mathbf{X}_*\|`, warm vs cold,
  for several drift rates.
* ``pool140``: the backward experiment with batches drawn from a fixed pool of 140 labelled nodes
  (20 per class, Cora's semi-supervised setting), so consecutive batches overlap.
* ``subgraph``: mini-batch mode: each step propagates on the 2-hop induced sub-graph of the batch
  (global ids for the history), compared with the full-graph exact gradient.
* ``refresh``: forward warm start after a memory refresh (X_in replaced by a new sample).
* ``training``: closed loop: a linear model on noisy features trained through the propagation
  (Adam and SGD with momentum), gradient reaching the model through the target rows only.

Metrics are reported over all rows and over the batch's target rows (the rows whose gradient
reaches the LM under neighbor decoupling), with the cosine similarity, the norm ratio, the
"carry-over" (coefficient of the previous batch's exact gradient in this step's error) and the
error of the gradient summed over the run.

Run:  python benchmarks/propagation_gradient_error.py  (about 80 s on one CPU thread)
Writes benchmarks/results/propagation/gradient_error.{json,png} and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from leading.data import load_dataset
from leading.graph import ImplicitPropagation, normalized_adjacency

SCHEMES: dict[str, dict] = {
    "history": {"backward_init": "history"},
    "damped_0.5": {"backward_init": "damped", "damping": 0.5},
    "damped_0.25": {"backward_init": "damped", "damping": 0.25},
    "grad": {"backward_init": "grad"},
    "zero": {"backward_init": "zero"},
}
STEPS_L = (1, 2, 3, 5, 10)


def relative_error(approx: Tensor, exact: Tensor) -> float:
    return float(torch.linalg.vector_norm(approx - exact) / torch.linalg.vector_norm(exact))


def cosine(approx: Tensor, exact: Tensor) -> float:
    return float(F.cosine_similarity(approx.flatten(), exact.flatten(), dim=0))


class Metrics:
    """Per-step gradient metrics over all rows and over the batch's target rows (the rows the LM
    back-propagates under neighbor decoupling), plus the error of the sums over the run."""

    def __init__(self, burn_in: int) -> None:
        self.burn = burn_in
        self.k = 0
        self.values: dict[str, list[float]] = {
            k: []
            for k in (
                "rel_error",
                "cosine",
                "rel_error_targets",
                "cosine_targets",
                "norm_ratio_targets",
            )
        }
        self.carry: list[float] = []
        self.g_prev: Tensor | None = None
        self.sums: dict[str, Tensor] = {}

    def add(self, g0: Tensor, g_ex: Tensor, batch: Tensor) -> None:
        v = self.values
        v["rel_error"].append(relative_error(g0, g_ex))
        v["cosine"].append(cosine(g0, g_ex))
        v["rel_error_targets"].append(relative_error(g0[batch], g_ex[batch]))
        v["cosine_targets"].append(cosine(g0[batch], g_ex[batch]))
        v["norm_ratio_targets"].append(
            float(torch.linalg.vector_norm(g0[batch]) / torch.linalg.vector_norm(g_ex[batch]))
        )
        if self.g_prev is not None:  # fraction of the previous batch's exact gradient carried
            p = self.g_prev
            self.carry.append(float(((g0 - g_ex) * p).sum() / (p * p).sum()))
        self.g_prev = g_ex
        if self.k >= self.burn:
            mask = torch.zeros(g0.size(0), 1, dtype=g0.dtype)
            mask[batch] = 1.0
            for key, val in (("g0", g0), ("ex", g_ex), ("g0_t", g0 * mask), ("ex_t", g_ex * mask)):
                self.sums[key] = self.sums.get(key, 0) + val
        self.k += 1

    def result(self, trace: bool = False) -> dict:
        out: dict = {k: summarize(v, self.burn) for k, v in self.values.items()}
        out["carry_over"] = summarize(self.carry, max(self.burn - 1, 0))
        s = self.sums
        out["sum_rel_error"] = relative_error(s["g0"], s["ex"])
        out["sum_rel_error_targets"] = relative_error(s["g0_t"], s["ex_t"])
        if trace:
            out["rel_error_trace"] = self.values["rel_error"]
            out["rel_error_targets_trace"] = self.values["rel_error_targets"]
        return out


def rounded(obj: object) -> object:
    """Floats to 4 significant digits, for a small JSON file."""
    if isinstance(obj, float):
        return float(f"{obj:.4g}") if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {k: rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [rounded(v) for v in obj]
    return obj


def summarize(values: list[float], burn_in: int) -> dict[str, float]:
    t = torch.tensor(values[burn_in:], dtype=torch.float64)
    return {
        "mean": float(t.mean()),
        "p90": float(t.quantile(0.9)),
        "max": float(t.max()),
        "min": float(t.min()),
    }


class Problem:
    """The shared sequence of inputs, batches and exact solutions (float64)."""

    def __init__(self, args: argparse.Namespace) -> None:
        g = load_dataset("cora")
        self.edge_index = g.edge_index
        self.n = g.num_nodes
        self.labels = g.y
        self.alpha = args.alpha
        gen = torch.Generator().manual_seed(args.seed)
        a_hat = normalized_adjacency(self.edge_index, self.n, dtype=torch.float64).to_dense()
        eye = torch.eye(self.n, dtype=torch.float64)
        t0 = time.perf_counter()
        self.lu, self.piv = torch.linalg.lu_factor(eye - (1 - self.alpha) * a_hat)
        self.lu_seconds = time.perf_counter() - t0
        del a_hat, eye
        self.steps = args.steps
        self.drift = args.drift
        self.batch = args.batch
        self.channels = 7
        self.x_in = self.drifting_inputs(args.drift, gen)
        self.x_star = [self.solve(x) for x in self.x_in]
        pool = self.per_class_pool(20, gen)
        self.pool = pool
        onehot = F.one_hot(self.labels, self.channels).float()
        noise = torch.randn(self.n, 32, generator=gen)
        self.features = noise + args.signal * torch.cat([onehot, onehot.new_zeros(self.n, 25)], 1)
        self.batches = {
            "all": [torch.randperm(self.n, generator=gen)[: self.batch] for _ in range(self.steps)],
            "pool140": [
                pool[torch.randperm(pool.numel(), generator=gen)[: self.batch]]
                for _ in range(self.steps)
            ],
        }
        self.y_star: dict[str, list[Tensor]] = {}
        self.g_star: dict[str, list[Tensor]] = {}
        for name, batches in self.batches.items():
            ys = [self.loss_grad(x, b) for x, b in zip(self.x_star, batches, strict=True)]
            self.y_star[name] = ys
            self.g_star[name] = [self.solve(y, adjoint=True) for y in ys]

    def drifting_inputs(self, drift: float, gen: torch.Generator) -> list[Tensor]:
        x = torch.randn(self.n, self.channels, generator=gen, dtype=torch.float64)
        out = []
        keep = (1.0 - drift**2) ** 0.5
        for _ in range(self.steps):
            out.append(x)
            x = keep * x + drift * torch.randn(x.shape, generator=gen, dtype=torch.float64)
        return out

    def per_class_pool(self, per_class: int, gen: torch.Generator) -> Tensor:
        picks = []
        for c in self.labels.unique():
            idx = (self.labels == c).nonzero().flatten()
            picks.append(idx[torch.randperm(idx.numel(), generator=gen)[:per_class]])
        return torch.cat(picks)

    def solve(self, rhs: Tensor, adjoint: bool = False) -> Tensor:
        return self.alpha * torch.linalg.lu_solve(self.lu, self.piv, rhs, adjoint=adjoint)

    def loss_grad(self, x: Tensor, batch: Tensor) -> Tensor:
        """dL/dX of the mean cross-entropy over the batch rows."""
        y = torch.zeros_like(x)
        prob = torch.softmax(x[batch], dim=-1)
        prob[torch.arange(batch.numel()), self.labels[batch]] -= 1.0
        y[batch] = prob / batch.numel()
        return y


def run_backward(problem: Problem, pool: str, steps_l: int, scheme: dict, burn: int) -> dict:
    """Backward alone: feed the exact dL/dX_* into the iterative backward."""
    prop = ImplicitPropagation(problem.alpha, num_steps=steps_l, cached=True, **scheme)
    metrics = Metrics(burn)
    for k in range(problem.steps):
        x = problem.x_in[k].float().requires_grad_()
        out = prop(x, problem.edge_index)
        out.backward(problem.y_star[pool][k].float())
        metrics.add(x.grad.double(), problem.g_star[pool][k], problem.batches[pool][k])
    return metrics.result(trace=True)


def run_end_to_end(problem: Problem, steps_l: int, scheme: dict, warm: bool, burn: int) -> dict:
    prop = ImplicitPropagation(
        problem.alpha, num_steps=steps_l, forward_warm_start=warm, cached=True, **scheme
    )
    metrics, fwd = Metrics(burn), []
    for k in range(problem.steps):
        batch = problem.batches["all"][k]
        x = problem.x_in[k].float().requires_grad_()
        out = prop(x, problem.edge_index)
        F.cross_entropy(out[batch], problem.labels[batch]).backward()
        metrics.add(x.grad.double(), problem.g_star["all"][k], batch)
        fwd.append(relative_error(out.detach().double(), problem.x_star[k]))
    return {**metrics.result(), "forward_rel_error": summarize(fwd, burn)}


def run_forward(
    problem: Problem, steps_l: int, warm: bool, inputs: list[tuple[Tensor, Tensor]], burn: int
) -> dict:
    prop = ImplicitPropagation(
        problem.alpha, num_steps=steps_l, forward_warm_start=warm, cached=True
    )
    err = []
    with torch.no_grad():
        for x, x_star in inputs:
            out = prop(x, problem.edge_index)
            err.append(relative_error(out.double(), x_star))
    return {"rel_error": summarize(err, burn)}


def refresh_inputs(problem: Problem, settle: int = 30, after: int = 60) -> tuple[list, list]:
    """A memory refresh: after ``settle`` drifting steps, X_in is replaced by an independent
    sample (every node re-encoded), which then drifts for ``after`` steps."""
    gen = torch.Generator().manual_seed(99)
    before = [x.float() for x in problem.drifting_inputs(problem.drift, gen)[:settle]]
    new = problem.drifting_inputs(problem.drift, gen)[:after]
    return before, [(x.float(), problem.solve(x)) for x in new]


def run_refresh(problem: Problem, steps_l: int, inputs: tuple[list, list]) -> list[float]:
    """Forward error of each step after the refresh, with forward warm start."""
    prop = ImplicitPropagation(problem.alpha, num_steps=steps_l, cached=True)
    trace = []
    with torch.no_grad():
        for x in inputs[0]:
            prop(x, problem.edge_index)
        for x, x_star in inputs[1]:
            out = prop(x, problem.edge_index)
            trace.append(relative_error(out.double(), x_star))
    return trace


def forward_inputs(problem: Problem, drift: float) -> list[tuple[Tensor, Tensor]]:
    if drift == problem.drift:
        return [(x.float(), xs) for x, xs in zip(problem.x_in, problem.x_star, strict=True)]
    xs = problem.drifting_inputs(drift, torch.Generator().manual_seed(1234))
    return [(x.float(), problem.solve(x)) for x in xs]


def run_subgraph(
    problem: Problem,
    subgraphs: list[tuple[Tensor, Tensor, Tensor]],
    steps_l: int,
    scheme: dict,
    burn: int,
) -> dict:
    prop = ImplicitPropagation(problem.alpha, num_steps=steps_l, num_nodes=problem.n, **scheme)
    metrics, fwd = Metrics(burn), []
    for k, (subset, sub_ei, local_batch) in enumerate(subgraphs):
        batch = problem.batches["all"][k]
        x_full = problem.x_in[k].float().requires_grad_()
        out = prop(x_full[subset], sub_ei, subset)
        F.cross_entropy(out[local_batch], problem.labels[batch]).backward()
        metrics.add(x_full.grad.double(), problem.g_star["all"][k], batch)
        fwd.append(relative_error(out.detach()[local_batch].double(), problem.x_star[k][batch]))
    return {
        **metrics.result(),
        "forward_rel_error_targets": summarize(fwd, burn),
        "mean_subgraph_nodes": sum(s[0].numel() for s in subgraphs) / len(subgraphs),
    }


TRAIN_L = (1, 2, 3)
OPTIMIZERS = {
    "adam": (torch.optim.Adam, {"lr": 0.01}),
    "sgd_momentum": (torch.optim.SGD, {"lr": 0.5, "momentum": 0.9}),
}


def run_training(
    problem: Problem, steps_l: int | None, scheme: dict, optimizer: str, steps: int, seed: int
) -> dict:
    """Closed loop: a linear model X_in = F W + b on fixed noisy features is trained through the
    propagation with batches of 32 from the 140 labelled nodes; the gradient reaches the model
    only through the target rows (as under neighbor decoupling). The objective is evaluated with
    the exact fixed point. ``steps_l=None`` trains with the converged (exact) implicit gradient."""
    gen = torch.Generator().manual_seed(seed)
    pool = problem.pool
    test = torch.ones(problem.n, dtype=torch.bool)
    test[pool] = False
    feats = problem.features
    lin = torch.nn.Linear(feats.size(1), problem.channels)
    with torch.no_grad():
        lin.weight.copy_(0.01 * torch.randn(lin.weight.shape, generator=gen))
        lin.bias.zero_()
    if steps_l is None:
        prop = ImplicitPropagation(
            problem.alpha,
            forward_warm_start=False,
            backward_init="grad",
            tol=1e-7,
            max_steps=500,
            cached=True,
        )
    else:
        prop = ImplicitPropagation(problem.alpha, num_steps=steps_l, cached=True, **scheme)
    cls, kwargs = OPTIMIZERS[optimizer]
    opt = cls(lin.parameters(), **kwargs)
    curve = []

    def evaluate(step: int) -> None:
        with torch.no_grad():
            x_star = problem.solve(lin(feats).double())
            loss = float(F.cross_entropy(x_star[pool], problem.labels[pool]))
            acc = float((x_star[test].argmax(-1) == problem.labels[test]).float().mean())
        curve.append({"step": step, "train_loss": loss, "test_acc": acc})

    for k in range(steps):
        if k % 25 == 0:
            evaluate(k)
        batch = pool[torch.randperm(pool.numel(), generator=gen)[: problem.batch]]
        x_full = lin(feats)
        mask = torch.zeros(problem.n, 1)
        mask[batch] = 1.0
        x_in = x_full.detach() + mask * (x_full - x_full.detach())  # gradient via targets only
        out = prop(x_in, problem.edge_index)
        loss = F.cross_entropy(out[batch], problem.labels[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            break
    evaluate(steps)
    finite = [c for c in curve if math.isfinite(c["train_loss"])]
    return {
        "final_train_loss": curve[-1]["train_loss"],
        "final_test_acc": curve[-1]["test_acc"],
        "best_test_acc": max(c["test_acc"] for c in finite) if finite else float("nan"),
        "curve": curve,
    }


def plot(results: dict, path: Path, alpha: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(16, 13))
    ls = list(STEPS_L)
    colors = dict(zip(SCHEMES, ["C3", "C1", "C4", "C0", "C2"], strict=True))

    def panel(ax, data, key, title, ylabel, log=True):
        for name in SCHEMES:
            ax.plot(
                ls,
                [data[name][str(L)][key]["mean"] for L in ls],
                "o-",
                label=name,
                color=colors[name],
            )
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("L (iterations)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")

    panel(
        axes[0, 0],
        results["backward"]["all"],
        "rel_error",
        "backward only, new random batch each step",
        "rel. error ||G0-G*||/||G*||",
    )
    axes[0, 0].plot(ls, [(1 - alpha) ** L for L in ls], "k:", label="(1-a)^L")
    axes[0, 0].legend(fontsize=8)
    panel(
        axes[0, 1],
        results["backward"]["all"],
        "rel_error_targets",
        "backward only, target rows (what the LM receives)",
        "rel. error on the 32 target rows",
    )
    panel(
        axes[0, 2],
        results["backward"]["all"],
        "cosine_targets",
        "backward only, target rows: cosine(G0, G*)",
        "cosine similarity",
        log=False,
    )
    sub = results.get("subgraph") or {
        s: {L: results["end_to_end"][s][L]["warm"] for L in results["end_to_end"][s]}
        for s in SCHEMES
    }
    panel(
        axes[1, 0],
        sub,
        "rel_error_targets",
        "sub-graph mode (2-hop), loss on X_L, target rows",
        "rel. error vs full-graph exact gradient",
    )
    ax = axes[1, 1]
    for drift, style in zip(results["forward"], ["-", "--", "-."], strict=False):
        ax.plot(
            ls,
            [results["forward"][drift]["warm"][str(L)]["rel_error"]["mean"] for L in ls],
            "o" + style,
            color="C0",
            label=f"warm, drift {drift}",
        )
    ax.plot(
        ls,
        [
            results["forward"][next(iter(results["forward"]))]["cold"][str(L)]["rel_error"]["mean"]
            for L in ls
        ],
        "s-",
        color="C3",
        label="cold (APPNP-L)",
    )
    ax.set_yscale("log")
    ax.set_xlabel("L (iterations)")
    ax.set_ylabel("||X_L - X*|| / ||X*||")
    ax.set_title("forward error", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax = axes[1, 2]
    trace_len = 60
    for name in SCHEMES:
        tr = results["backward"]["all"][name]["2"]["rel_error_trace"][:trace_len]
        ax.plot(range(len(tr)), tr, label=name, color=colors[name])
    ax.set_xlabel("training step k")
    ax.set_ylabel("rel. error (all rows)")
    ax.set_title("backward only, L=2, first steps (history warms up)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax = axes[2, 0]
    for i, L in enumerate(ls):
        tr = results["refresh"][str(L)]
        ax.plot(range(len(tr)), tr, label=f"L={L}", color=f"C{i}")
    ax.set_yscale("log")
    ax.set_xlabel("steps after a full memory refresh")
    ax.set_ylabel("||X_L - X*|| / ||X*||")
    ax.set_title("forward warm start: recovery after a refresh", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    for ax, opt_name in zip(axes[2, 1:], results.get("training", {}), strict=False):
        runs = results["training"][opt_name]
        for name in [*SCHEMES, "exact"]:
            key = "exact" if name == "exact" else f"{name}/L=2"
            curve = runs[key]["curves"][0]
            ax.plot(
                [c["step"] for c in curve],
                [c["train_loss"] for c in curve],
                label=name,
                color=colors.get(name, "k"),
                ls="--" if name == "exact" else "-",
            )
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("exact train loss (140 nodes)")
        ax.set_title(f"closed-loop training, {opt_name}, L=2 (seed 0)", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(
        f"Implicit propagation on Cora (alpha={alpha}): error of the approximate "
        "gradient under changing mini-batches",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=64)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps per run")
    parser.add_argument("--burn-in", type=int, default=20, help="steps left out of the means")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--drift", type=float, default=0.01, help="relative drift per step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/propagation"))
    parser.add_argument("--no-subgraph", action="store_true")
    parser.add_argument("--train-steps", type=int, default=300, help="closed-loop training steps")
    parser.add_argument("--signal", type=float, default=1.5, help="label signal in the features")
    parser.add_argument("--train-seeds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    problem = Problem(args)
    burn = args.burn_in
    results: dict = {"backward": {}, "end_to_end": {}, "forward": {}, "subgraph": {}}

    for pool in ("all", "pool140"):
        results["backward"][pool] = {
            name: {str(L): run_backward(problem, pool, L, cfg, burn) for L in STEPS_L}
            for name, cfg in SCHEMES.items()
        }
    for name, cfg in SCHEMES.items():
        results["end_to_end"][name] = {
            str(L): {
                mode: run_end_to_end(problem, L, cfg, mode == "warm", burn)
                for mode in ("warm", "cold")
            }
            for L in STEPS_L
        }
    for drift in (0.001, args.drift, 0.1):
        inputs = forward_inputs(problem, drift)
        results["forward"][str(drift)] = {
            mode: {str(L): run_forward(problem, L, mode == "warm", inputs, burn) for L in STEPS_L}
            for mode in ("warm", "cold")
        }
    inputs = refresh_inputs(problem)
    results["refresh"] = {str(L): run_refresh(problem, L, inputs) for L in STEPS_L}
    if not args.no_subgraph:
        from torch_geometric.utils import k_hop_subgraph

        subgraphs = []
        for batch in problem.batches["all"]:
            subset, sub_ei, mapping, _ = k_hop_subgraph(
                batch, 2, problem.edge_index, relabel_nodes=True, num_nodes=problem.n
            )
            subgraphs.append((subset, sub_ei, mapping))
        results["subgraph"] = {
            name: {str(L): run_subgraph(problem, subgraphs, L, cfg, burn) for L in STEPS_L}
            for name, cfg in SCHEMES.items()
        }
    results["training"] = {}
    for opt_name in OPTIMIZERS:
        runs: dict = {}
        for seed in range(args.train_seeds):
            runs.setdefault("exact", []).append(
                run_training(problem, None, {}, opt_name, args.train_steps, seed)
            )
            for name, cfg in SCHEMES.items():
                for L in TRAIN_L:
                    runs.setdefault(f"{name}/L={L}", []).append(
                        run_training(problem, L, cfg, opt_name, args.train_steps, seed)
                    )
        results["training"][opt_name] = {
            key: {
                "final_train_loss": [r["final_train_loss"] for r in rs],
                "final_test_acc": [r["final_test_acc"] for r in rs],
                "curves": [r["curve"] for r in rs],
            }
            for key, rs in runs.items()
        }
    elapsed = time.perf_counter() - t_start

    meta = {
        "command": "python benchmarks/propagation_gradient_error.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k != "out" and not isinstance(v, bool)
        ),
        "graph": {
            "name": "cora",
            "num_nodes": problem.n,
            "num_edges_directed": int(problem.edge_index.size(1)),
        },
        "alpha": args.alpha,
        "steps": args.steps,
        "burn_in": burn,
        "batch": args.batch,
        "drift": args.drift,
        "seed": args.seed,
        "channels": problem.channels,
        "L": list(STEPS_L),
        "schemes": SCHEMES,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} thread of a 2-core shared CPU",
        "elapsed_s": round(elapsed, 1),
        "lu_factor_s": round(problem.lu_seconds, 2),
        "exact": "dense LU of I-(1-a)Â in float64; module runs in float32",
        "statistics": f"per-step values, steps {burn}..{args.steps - 1}: mean/p90/max/min",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for pool in results["backward"].values():  # keep per-step traces for L=2 only
        for per_l in pool.values():
            for key, res in per_l.items():
                if key != "2":
                    res.pop("rel_error_trace", None)
                    res.pop("rel_error_targets_trace", None)
    payload = json.dumps(rounded({"meta": meta, **results}), separators=(",", ":"))
    (args.out / "gradient_error.json").write_text(payload + "\n")
    plot(results, args.out / "gradient_error.png", args.alpha)

    print(render_tables(results, meta))
    print(f"wrote {args.out}/gradient_error.json and gradient_error.png in {elapsed:.0f} s")


def render_tables(results: dict, meta: dict) -> str:
    """Markdown tables of the means over steps >= burn-in."""
    lines: list[str] = []

    def row(label: str, vals: list[str]) -> str:
        return f"| {label:<24} | " + " | ".join(f"{v:>13}" for v in vals) + " |"

    head = row("L", [str(L) for L in STEPS_L])
    sep = "|" + "-" * 26 + "|" + "|".join(["-" * 15] * len(STEPS_L)) + "|"

    def cell(d: dict, suffix: str = "") -> str:
        return f"{d['rel_error' + suffix]['mean']:.3f} ({d['cosine' + suffix]['mean']:.2f})"

    def table(title: str, data: dict, suffix: str = "", pick=lambda d: d) -> None:
        lines.extend(["", title, "", head, sep])
        for name in SCHEMES:
            lines.append(row(name, [cell(pick(data[name][str(L)]), suffix) for L in STEPS_L]))

    def scalar_table(title: str, data: dict, key: str, pick=lambda d: d) -> None:
        lines.extend(["", title, "", head, sep])
        for name in SCHEMES:
            vals = [pick(data[name][str(L)])[key] for L in STEPS_L]
            vals = [v["mean"] if isinstance(v, dict) else v for v in vals]
            lines.append(row(name, [f"{v:.3f}" for v in vals]))

    lines.append(
        f"Cora, alpha={meta['alpha']}, {meta['steps']} steps, batch {meta['batch']}, "
        f"drift {meta['drift']}; means over steps >= {meta['burn_in']}. "
        "Cells: relative error (cosine similarity) of G_0 against the exact implicit gradient."
    )
    bwd = results["backward"]
    table("Backward only (exact dL/dX* fed in), new random batch each step; all rows", bwd["all"])
    table("Same, target rows only (the rows the LM back-propagates)", bwd["all"], "_targets")
    table(
        "Backward only, batches drawn from 140 labelled nodes (20/class); all rows", bwd["pool140"]
    )
    table("Same, target rows only", bwd["pool140"], "_targets")
    scalar_table(
        "Carry-over: coefficient of the previous batch's exact gradient in the error "
        "(backward only, all rows)",
        bwd["all"],
        "carry_over",
    )
    scalar_table(
        "Error of the gradient summed over the run (all rows)", bwd["all"], "sum_rel_error"
    )
    scalar_table(
        "Error of the gradient summed over the run (target rows only)",
        bwd["all"],
        "sum_rel_error_targets",
    )
    e2e = results["end_to_end"]
    for mode in ("warm", "cold"):
        table(
            f"End to end (loss on X_L), forward {mode} start; all rows",
            e2e,
            "",
            lambda d, m=mode: d[m],
        )
        table(
            f"End to end, forward {mode} start; target rows only",
            e2e,
            "_targets",
            lambda d, m=mode: d[m],
        )
    lines.extend(["", "Forward error ||X_L - X*|| / ||X*|| (all rows)", "", head, sep])
    for drift, res in results["forward"].items():
        for mode in ("warm", "cold"):
            vals = [f"{res[mode][str(L)]['rel_error']['mean']:.2e}" for L in STEPS_L]
            lines.append(row(f"{mode}, drift {drift}", vals))
    lines.extend(
        [
            "",
            "Forward error after a memory refresh (X_in replaced at step 0), warm start",
            "",
            row("steps after refresh", [f"L={L}" for L in STEPS_L]),
            sep,
        ]
    )
    for j in (0, 1, 2, 5, 10, 20, 40):
        lines.append(row(str(j), [f"{results['refresh'][str(L)][j]:.2e}" for L in STEPS_L]))
    if results.get("subgraph"):
        sub = results["subgraph"]
        table(
            "Sub-graph mode (2-hop induced sub-graph of each batch) vs the full-graph exact "
            "gradient; all rows",
            sub,
        )
        table("Sub-graph mode; target rows only", sub, "_targets")
        fw = [f"{sub['zero'][str(L)]['forward_rel_error_targets']['mean']:.2e}" for L in STEPS_L]
        lines.append(row("forward error, targets", fw))
        lines.append(f"(mean sub-graph size {sub['zero']['1']['mean_subgraph_nodes']:.0f} nodes)")
    scalar_table(
        "Norm ratio ||G0|| / ||G*|| on target rows (backward only, all nodes)",
        bwd["all"],
        "norm_ratio_targets",
    )
    for opt_name, runs in results.get("training", {}).items():
        lines.extend(
            [
                "",
                f"Closed-loop training ({opt_name}): final exact train loss / test "
                "accuracy, mean over seeds",
                "",
            ]
        )
        lines.append(
            f"| {'scheme':<24} | " + " | ".join(f"{'L=' + str(L):>15}" for L in TRAIN_L) + " |"
        )
        lines.append("|" + "-" * 26 + "|" + "|".join(["-" * 17] * len(TRAIN_L)) + "|")

        def cellt(r: dict) -> str:
            loss = sum(r["final_train_loss"]) / len(r["final_train_loss"])
            acc = sum(r["final_test_acc"]) / len(r["final_test_acc"])
            return f"{loss:.3f} / {acc:.3f}"

        for name in SCHEMES:
            lines.append(
                f"| {name:<24} | "
                + " | ".join(f"{cellt(runs[f'{name}/L={L}']):>15}" for L in TRAIN_L)
                + " |"
            )
        lines.append(f"| {'exact (converged)':<24} | {cellt(runs['exact']):>15} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
