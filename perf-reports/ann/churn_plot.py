#!/usr/bin/env python3
"""Plots churn_bench output: recall@10 and q/s against the share of capacity that has flowed
through, for the churned engine and the fresh reference, one line per ef.

    perf-reports/.venv/bin/python perf-reports/ann/churn_plot.py perf-reports/ann/churn-exact.json

Writes <input>.png next to the JSON (matplotlib from the perf-reports venv that run.py makes).
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src = Path(sys.argv[1])
    rows = json.loads(src.read_text())
    efs = sorted({r["ef"] for r in rows})
    fig, (ax_r, ax_q, ax_x) = plt.subplots(1, 3, figsize=(17, 4.5))
    for ef in efs:
        pts = sorted((r for r in rows if r["ef"] == ef), key=lambda r: r["flowed"])
        x = [r["flowed"] for r in pts]
        line = ax_r.plot(x, [r["recall"] for r in pts], marker="o", label=f"churned ef {ef}")[0]
        ax_q.plot(x, [r["qps"] for r in pts], marker="o", color=line.get_color(),
                  label=f"churned ef {ef}")
        if "fresh_recall" in pts[0]:
            ax_r.plot(x, [r["fresh_recall"] for r in pts], ls="--", color=line.get_color(),
                      label=f"fresh ef {ef}")
            ax_q.plot(x, [r["fresh_qps"] for r in pts], ls="--", color=line.get_color(),
                      label=f"fresh ef {ef}")
            ax_x.plot(x, [r["qps"] / r["fresh_qps"] for r in pts], marker="o",
                      color=line.get_color(), label=f"ef {ef}")
    storage = rows[0]["storage"]
    cap = rows[0]["capacity"]
    ax_r.set_title(f"recall@10 under churn ({storage}, {cap:,} live)")
    ax_q.set_title("queries/s, one thread (Engine::vsearch)")
    ax_x.set_title("q/s churned ÷ fresh (alternating passes)")
    ax_x.axhline(1.0, color="grey", lw=0.8)
    ax_x.set_ylabel("ratio")
    for ax in (ax_r, ax_q, ax_x):
        ax.set_xlabel("capacity flowed through (TTL expiry + LRU eviction)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax_r.set_ylabel("recall@10")
    ax_q.set_ylabel("queries/s")
    fig.tight_layout()
    out = src.with_suffix(".png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
