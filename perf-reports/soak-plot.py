#!/usr/bin/env python3
"""Plots a soak run's CSV (tests/server/server_soak.rs, SUTRA_SOAK_CSV) as an SVG: p99 latency per
second and resident memory over time. No dependencies (the machine has no matplotlib).

Usage: python3 perf-reports/soak-plot.py soak.csv out.svg [title]
"""
import csv
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "soak"
    rows = list(csv.DictReader(open(src)))
    t = [int(r["second"]) for r in rows]
    p99 = [int(r["p99_us"]) / 1000 for r in rows]
    rss = [int(r["rss_bytes"]) / 2**20 for r in rows]
    used = [int(r["used_memory"]) / 2**20 for r in rows]
    w, h, m = 900, 260, 60
    tmax = max(t) or 1

    def panel(y0, series, ymax, label, lines):
        out = [f'<text x="{m}" y="{y0 - 8}" font-size="13">{label}</text>',
               f'<rect x="{m}" y="{y0}" width="{w - 2 * m}" height="{h}" fill="none" stroke="#888"/>']
        for frac in (0, 0.5, 1):
            y = y0 + h - frac * h
            out.append(f'<text x="{m - 6}" y="{y + 4}" font-size="11" text-anchor="end">{ymax * frac:.0f}</text>')
        for values, colour in series:
            pts = " ".join(f"{m + (w - 2 * m) * x / tmax:.1f},{y0 + h - h * min(v, ymax) / ymax:.1f}"
                           for x, v in zip(t, values))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.2"/>')
        for value, colour, text in lines:
            y = y0 + h - h * value / ymax
            out.append(f'<line x1="{m}" x2="{w - m}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-dasharray="4 3"/>')
            out.append(f'<text x="{w - m - 4}" y="{y - 4:.1f}" font-size="11" text-anchor="end" fill="{colour}">{text}</text>')
        return out

    body = [f'<text x="{m}" y="20" font-size="15">{title}</text>']
    pmax = max(p99) * 1.1 or 1
    body += panel(50, [(p99, "#c33")], pmax, "p99 latency per second (ms)", [])
    cap = 256
    bound = cap * 1.1 + 128
    rmax = max(max(rss), bound) * 1.1
    body += panel(50 + h + 50, [(rss, "#36c"), (used, "#3a3")], rmax,
                  "resident memory VmRSS (blue) and accounted used_memory (green), MiB",
                  [(cap, "#3a3", "cap 256 MiB"), (bound, "#c33", "cap + 10% + 128 MiB")])
    body.append(f'<text x="{w / 2}" y="{50 + 2 * h + 90}" font-size="12" text-anchor="middle">seconds (0-{tmax})</text>')
    total = 50 + 2 * h + 100
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{total}" font-family="sans-serif">',
           '<rect width="100%" height="100%" fill="white"/>'] + body + ["</svg>"]
    open(out, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
