r"""Plots of the efficiency studies (matplotlib, no display needed).

:func:`write_plots` draws, from the rows of ``efficiency.json``, the analogs of the paper's
Figure 3 (``fig3_convergence.png``), Figure 4 (``fig4_memory.png``), Figure 5
(``fig5_encodings.png``), Tables 4-6 (``table4_cost.png``, ``table5_accuracy_memory.png``,
``table6_ablation.png``) and the refresh budget's cost and benefit (``refresh_budget.png``).
Runs that ran out of memory are drawn as ``x`` markers (or hatched bars) labelled OOM above the
measured points; runs that failed are left out of the curves and named
in the bar charts (``summary.md`` lists them with their errors).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_plots"]

Row = dict[str, Any]

#: One color per method label, the same in every plot.
COLORS = {
    "coupled": "tab:red",
    "gas": "tab:orange",
    "supervised": "tab:gray",
    "leading": "tab:blue",
    "glem": "tab:purple",
    "lm+appnp": "tab:red",
    "lm+appnp+nd": "tab:green",
    "lm+nd+im": "tab:blue",
}
LABELS = {
    "coupled": "LM + GraphSAGE (coupled)",
    "gas": "LM + GAS",
    "supervised": "supervised FT (targets only)",
    "leading": "LEADING",
    "glem": "GLEM",
    "lm+appnp": "LM + APPNP",
    "lm+appnp+nd": "LM + APPNP + ND",
    "lm+nd+im": "LM + ND + IM",
}


def _figure(nrows: int, ncols: int, width: float = 4.8, height: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _study(rows: list[Row], study: str) -> list[Row]:
    return [r for r in rows if r["study"] == study]


def _methods(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows))


def _sweep(ax, rows: list[Row], x: str, y: str, ylabel: str) -> None:
    r"""One line per method of :obj:`y` against :obj:`x`; runs out of memory as ``x`` markers
    labelled OOM above the highest measured point."""
    measured = [r[y] for r in rows if r["status"] == "ok" and r.get(y) is not None]
    top = 1.12 * max(measured, default=1.0)
    for method in _methods(rows):
        pts = sorted((r for r in rows if r["method"] == method), key=lambda r: r[x])
        ok = [r for r in pts if r["status"] == "ok" and r.get(y) is not None]
        color = COLORS.get(method)
        ax.plot([r[x] for r in ok], [r[y] for r in ok], "o-", color=color,
                label=LABELS.get(method, method))
        for r in (r for r in pts if r["status"] == "oom"):
            ax.plot([r[x]], [top], "x", color=color, ms=10, mew=2)
            ax.annotate("OOM", (r[x], top), textcoords="offset points", xytext=(0, 7),
                        ha="center", fontsize=8, color=color)
    xs = sorted({r[x] for r in rows})
    if x == "batch_size":
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(v) for v in xs])
    ax.minorticks_off()
    ax.set_ylim(0, top * 1.1)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _fig3(doc: dict[str, Any], rows: list[Row]):
    rows = [r for r in _study(rows, "fig3") if r["status"] == "ok" and r.get("history")]
    if not rows:
        return None
    fig, axes = _figure(1, 1, 5.5, 3.8)
    ax = axes[0, 0]
    for r in rows:
        hist = [h for h in r["history"] if isinstance(h.get("valid_acc"), float)]
        ax.plot([h["epoch"] for h in hist], [h["valid_acc"] for h in hist], "o-",
                color=COLORS.get(r["method"]), label=LABELS.get(r["method"], r["method"]))
    ax.set_xlabel("LM epoch (0 = after the head warm-up, LM not yet tuned)")
    ax.set_ylabel("validation accuracy (end-to-end head)")
    ax.set_title("Convergence (Figure 3)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _fig4(doc: dict[str, Any], rows: list[Row]):
    batch, hops = _study(rows, "fig4_5_batch_size"), _study(rows, "fig4_5_hops")
    if not batch and not hops:
        return None
    fig, axes = _figure(1, 2)
    for ax, sub, x, title in (
        (axes[0, 0], batch, "batch_size", "2 hops (fanouts 10, 5)"),
        (axes[0, 1], hops, "hops", "batch size 32 (fanouts 10, 5, 5, ...)"),
    ):
        _sweep(ax, sub, x, "peak_mem_mb", "peak memory (MB)")
        ax.set_xlabel("batch size" if x == "batch_size" else "hops")
        ax.set_title(f"Memory cost (Figure 4): {title}", fontsize=10)
        ax.legend(fontsize=8)
    return fig


def _fig5(doc: dict[str, Any], rows: list[Row]):
    batch, hops = _study(rows, "fig4_5_batch_size"), _study(rows, "fig4_5_hops")
    if not batch and not hops:
        return None
    fig, axes = _figure(2, 2)
    for j, (sub, x) in enumerate(((batch, "batch_size"), (hops, "hops"))):
        for i, (y, label) in enumerate((
            ("encodings_per_node_per_epoch", "LM encodings per node per epoch"),
            ("encodings_per_target_per_epoch", "LM encodings per target per epoch"),
        )):
            ax = axes[i, j]
            _sweep(ax, sub, x, y, label)
            ax.set_xlabel("batch size" if x == "batch_size" else "hops")
            ax.set_title("Encoding times (Figure 5)", fontsize=10)
            ax.legend(fontsize=8)
    return fig


def _bars(ax, rows: list[Row], y: str, ylabel: str, labels: list[str],
          percent: bool = False) -> None:
    r"""One bar per row. A run out of memory is a hatched bar above the highest measured one,
    labelled OOM; a run without this figure is named by its status."""
    scale = 100.0 if percent else 1.0
    measured = [scale * r[y] for r in rows if r["status"] == "ok" and r.get(y) is not None]
    top = 1.12 * max(measured, default=1.0)
    for i, r in enumerate(rows):
        color = COLORS.get(r["method"], "tab:blue")
        value = r.get(y)
        if r["status"] == "ok" and value is not None:
            ax.bar(i, scale * value, color=color)
            text = f"{scale * value:.1f}" if percent else f"{value:.3g}"
            ax.text(i, scale * value, text, ha="center", va="bottom", fontsize=8)
        elif r["status"] == "oom" and y == "peak_mem_mb":
            ax.bar(i, top, color="white", edgecolor=color, hatch="//")
            ax.text(i, top, "OOM", ha="center", va="bottom", fontsize=8)
        else:
            ax.text(i, 0, r["status"].upper() if r["status"] == "oom" else r["status"],
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(0, top * 1.1)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")


def _table5(doc: dict[str, Any], rows: list[Row]):
    rows = _study(rows, "table5")
    if not rows:
        return None
    labels = [LABELS.get(r["method"], r["method"]).replace(" (", "\n(") for r in rows]
    fig, axes = _figure(1, 2)
    _bars(axes[0, 0], rows, "test_acc", "test accuracy (%), end-to-end head", labels, True)
    _bars(axes[0, 1], rows, "peak_mem_mb", "peak memory (MB)", labels)
    fig.suptitle("Accuracy and memory (Table 5)")
    return fig


def _table6(doc: dict[str, Any], rows: list[Row]):
    rows = _study(rows, "table6")
    if not rows:
        return None
    labels = [LABELS.get(r["method"], r["method"]).replace(" + ", "\n+ ", 1)
              + f"\nL={r.get('prop_steps')}\nBS={r.get('batch_size')}" for r in rows]
    fig, axes = _figure(3, 1, width=max(6.0, 0.85 * len(rows)), height=2.8)
    _bars(axes[0, 0], rows, "test_acc", "test accuracy (%)", labels, True)
    _bars(axes[1, 0], rows, "epoch_time_s", "time per epoch (s)", labels)
    _bars(axes[2, 0], rows, "peak_mem_mb", "peak memory (MB)", labels)
    fig.suptitle("Ablation: neighbor decoupling (ND) and implicit modeling (IM) (Table 6)")
    return fig


def _table4(doc: dict[str, Any], rows: list[Row]):
    rows = _study(rows, "table4")
    if not rows:
        return None
    labels = [LABELS.get(r["method"], r["method"]) for r in rows]
    fig, axes = _figure(1, 2)
    _bars(axes[0, 0], rows, "peak_mem_mb", "peak memory (MB)", labels)
    _bars(axes[0, 1], rows, "finetune_time_s", "running time of the fine-tuning (s)", labels)
    fig.suptitle("Cost of LM fine-tuning strategies (Table 4)")
    return fig


def _refresh_label(r: Row) -> str:
    frac = r.get("refresh_fraction")
    if frac is None:
        return f"= batch\n({r.get('refresh_batch_size')}/step)"
    return f"{frac:g} of graph\n({r.get('refresh_batch_size')}/step)"


def _refresh(doc: dict[str, Any], rows: list[Row]):
    rows = _study(rows, "refresh")
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: -1.0 if r.get("refresh_fraction") is None
                  else r["refresh_fraction"])
    ok = [r for r in rows if r["status"] == "ok"]
    x = list(range(len(ok)))
    labels = [_refresh_label(r) for r in ok]
    fig, axes = _figure(1, 3)
    panels = (
        (axes[0, 0], [("encodings_per_node_per_epoch", "LM encodings per node per epoch")]),
        (axes[0, 1], [("epoch_time_s", "time per epoch (s)")]),
        (axes[0, 2], [("valid_acc", "validation"), ("test_acc", "test")]),
    )
    for ax, series in panels:
        for y, name in series:
            ax.plot(x, [r.get(y) for r in ok], "o-", label=name)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_xlabel("pipeline-2 refresh per epoch")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("LM encodings per node per epoch")
    axes[0, 1].set_ylabel("time per epoch (s)")
    axes[0, 2].set_ylabel("accuracy, end-to-end head")
    axes[0, 2].legend(fontsize=8)
    fig.suptitle("The refresh budget: cost and benefit (LEADING)")
    return fig


PLOTS: dict[str, Callable[[dict[str, Any], list[Row]], Any]] = {
    "fig3_convergence.png": _fig3,
    "fig4_memory.png": _fig4,
    "fig5_encodings.png": _fig5,
    "table4_cost.png": _table4,
    "table5_accuracy_memory.png": _table5,
    "table6_ablation.png": _table6,
    "refresh_budget.png": _refresh,
}


def write_plots(doc: dict[str, Any], out: str | Path) -> list[Path]:
    r"""Draws every plot whose study has rows in :obj:`doc` (the content of
    ``efficiency.json``) into :obj:`out`; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, draw in PLOTS.items():
        fig = draw(doc, doc.get("rows", []))
        if fig is None:
            continue
        fig.savefig(out / name, dpi=110)
        files.append(out / name)
    return files
