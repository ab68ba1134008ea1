r"""``summary.md``: the efficiency studies' rows as Markdown tables, one per study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["study_table", "write_summary"]

Row = dict[str, Any]

#: Columns per study: (header, row field, format).
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "table5": [
        ("method", "method", "{}"), ("test acc (%)", "test_acc", "pct"),
        ("peak memory (MB)", "peak_mem_mb", "{:.0f}"), ("epoch (s)", "epoch_time_s", "{:.1f}"),
        ("enc/target/epoch", "encodings_per_target_per_epoch", "{:.2f}"),
    ],
    "fig3": [("method", "method", "{}"), ("validation accuracy per epoch (%)", "history", "hist")],
    "table6": [
        ("method", "method", "{}"), ("L", "prop_steps", "{}"), ("batch", "batch_size", "{}"),
        ("test acc (%)", "test_acc", "pct"), ("epoch (s)", "epoch_time_s", "{:.1f}"),
        ("peak memory (MB)", "peak_mem_mb", "{:.0f}"),
    ],
    "fig4_5_batch_size": [
        ("method", "method", "{}"), ("batch", "batch_size", "{}"), ("hops", "hops", "{}"),
        ("peak memory (MB)", "peak_mem_mb", "{:.0f}"),
        ("enc/node/epoch", "encodings_per_node_per_epoch", "{:.3f}"),
        ("enc/target/epoch", "encodings_per_target_per_epoch", "{:.2f}"),
        ("epoch (s)", "epoch_time_s", "{:.1f}"),
    ],
    "table4": [
        ("method", "method", "{}"), ("peak memory (MB)", "peak_mem_mb", "{:.0f}"),
        ("running time (s)", "finetune_time_s", "{:.0f}"), ("epoch (s)", "epoch_time_s", "{:.1f}"),
        ("test acc (%)", "test_acc", "pct"),
    ],
    "refresh": [
        ("refresh_fraction", "refresh_fraction", "{}"), ("per step", "refresh_batch_size", "{}"),
        ("enc/node/epoch", "encodings_per_node_per_epoch", "{:.3f}"),
        ("epoch (s)", "epoch_time_s", "{:.1f}"), ("valid acc (%)", "valid_acc", "pct"),
        ("test acc (%)", "test_acc", "pct"),
    ],
}
COLUMNS["fig4_5_hops"] = COLUMNS["fig4_5_batch_size"]

TITLES = {
    "table5": "Table 5: accuracy and peak memory",
    "fig3": "Figure 3: convergence",
    "table6": "Table 6: ablation (ND = neighbor decoupling, IM = implicit modeling)",
    "fig4_5_batch_size": "Figures 4 and 5: memory and LM encodings against the batch size",
    "fig4_5_hops": "Figures 4 and 5: memory and LM encodings against the number of hops",
    "table4": "Table 4: memory and running time of LM fine-tuning strategies",
    "refresh": "The refresh budget (pipeline 2) of LEADING",
}


def _cell(row: Row, field: str, fmt: str) -> str:
    value = row.get(field)
    if field == "method" or fmt == "{}":
        return "null" if value is None else str(value)
    if row["status"] == "oom" and field not in ("prop_steps", "batch_size", "hops"):
        return "OOM"
    if row["status"] != "ok":
        return row["status"]
    if value is None:
        return "-"
    if fmt == "pct":
        return f"{100 * value:.1f}"
    if fmt == "hist":
        return ", ".join(f"{100 * h['valid_acc']:.1f}" for h in value
                         if isinstance(h.get("valid_acc"), float))
    return fmt.format(value)


def study_table(rows: list[Row], study: str) -> str:
    r"""The Markdown table of one study's rows."""
    cols = COLUMNS.get(study, [("method", "method", "{}")])
    lines = ["| " + " | ".join(h for h, _, _ in cols) + " |",
             "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r, f, fmt) for _, f, fmt in cols) + " |")
    return "\n".join(lines)


def write_summary(doc: dict[str, Any], out: str | Path) -> Path:
    r"""Writes ``summary.md`` (settings, machine, a table per study, failures) into :obj:`out`."""
    rows = doc.get("rows", [])
    machine = doc.get("machine", {})
    lines = [
        f"# leading bench ({doc.get('mode')})",
        "",
        f"Command: `{doc.get('command')}`",
        "",
        f"Machine: {machine.get('cpu')}, {machine.get('cpu_count')} cores, "
        f"{machine.get('threads')} threads, torch {machine.get('torch')}"
        + (f", {machine['gpu']}" if machine.get("gpu") else ", no GPU")
        + f"; {machine.get('platform')}",
        "",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in doc.get("settings", {}).items()),
        "",
        "Accuracy is the end-to-end head's (best validation epoch), not the downstream GNNs'. "
        "Peak memory: " + doc.get("notes", {}).get("peak_mem_mb", "") + ".",
    ]
    for study in dict.fromkeys(r["study"] for r in rows):
        lines += ["", f"## {TITLES.get(study, study)}", "",
                  study_table([r for r in rows if r["study"] == study], study)]
    failed = [r for r in rows if r["status"] in ("error", "skipped")]
    if failed:
        lines += ["", "## Not measured", ""]
        lines += [f"- {r['study']} {r['method']} {r.get('setting') or ''}: {r['status']}: "
                  f"{str(r.get('error', '')).splitlines()[0] if r.get('error') else ''}"
                  for r in failed]
    path = Path(out) / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path
