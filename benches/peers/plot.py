#!/usr/bin/env python3
"""Draws the output of kovan-map-peers as one SVG, by hand (stdlib only).

    python3 benches/peers/plot.py docs/benchmarks.json docs/benchmarks.svg

Top row: throughput of the three mixes (median bar, min..max whisker) per
thread count. Bottom row: single-thread get (ns/op), live bytes per entry,
and iteration (ns/key). Lower is better in the bottom row.
"""

import json
import math
import sys
from html import escape

COLORS = {
    "kovan-map": "#d62728",
    "kovan-map-hopscotch": "#ff7f0e",
    "kovan-map-0.2.0": "#8c564b",
    "papaya": "#2ca02c",
    "scc": "#1f77b4",
    "dashmap": "#9467bd",
    "rwlock-std": "#7f7f7f",
    "std": "#17becf",
}


def color(series):
    base = series.split("/")[0]
    return COLORS.get(base, "#bcbd22")


def nice_max(v):
    if v <= 0 or not math.isfinite(v):
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= v:
            return m * exp
    return 10 * exp


def fmt(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def panel(out, x, y, w, h, title, ylabel, groups):
    """groups: [(label, [(series, value, lo, hi, hatched)])]"""
    out.append(f'<g transform="translate({x},{y})">')
    out.append(f'<text x="{w / 2}" y="-8" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>')
    top = max([max(b[3] if b[3] is not None else b[1], b[1]) for _, bars in groups for b in bars] + [0])
    ymax = nice_max(top)
    out.append(f'<rect x="0" y="0" width="{w}" height="{h}" fill="none" stroke="#ccc"/>')
    for i in range(6):
        v = ymax * i / 5
        yy = h - h * i / 5
        out.append(f'<line x1="0" x2="{w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
        out.append(f'<text x="-4" y="{yy + 4:.1f}" text-anchor="end" font-size="10">{fmt(v)}</text>')
    out.append(f'<text transform="translate(-38,{h / 2}) rotate(-90)" text-anchor="middle" font-size="11">{escape(ylabel)}</text>')
    if not groups:
        out.append("</g>")
        return
    gw = w / len(groups)
    for gi, (glabel, bars) in enumerate(groups):
        gx = gi * gw
        n = max(len(bars), 1)
        bw = gw * 0.8 / n
        for bi, (series, val, lo, hi, hatched) in enumerate(bars):
            bx = gx + gw * 0.1 + bi * bw
            bh = h * val / ymax
            fill = color(series)
            extra = ' fill-opacity="0.45" stroke="%s"' % fill if hatched else ""
            out.append(
                f'<rect x="{bx:.1f}" y="{h - bh:.1f}" width="{bw * 0.9:.1f}" height="{bh:.1f}" fill="{fill}"{extra}>'
                f"<title>{escape(series)}: {fmt(val)}</title></rect>"
            )
            if lo is not None and hi is not None and hi > lo:
                cx = bx + bw * 0.45
                y1, y2 = h - h * lo / ymax, h - h * hi / ymax
                out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="#000" stroke-width="1"/>')
                for yy in (y1, y2):
                    out.append(f'<line x1="{cx - 2:.1f}" x2="{cx + 2:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#000" stroke-width="1"/>')
        out.append(f'<text x="{gx + gw / 2:.1f}" y="{h + 14}" text-anchor="middle" font-size="11">{escape(glabel)}</text>')
    out.append("</g>")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py BENCH.json OUT.svg")
    with open(sys.argv[1]) as f:
        d = json.load(f)
    labels = {m["id"]: m["label"] for m in d["maps"]}
    labels["std"] = "std HashMap (no lock)"
    order = [m["id"] for m in d["maps"]]
    cfg = d["config"]

    W, H = 1200, 720
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
        f'kovan-map and peers: {cfg["reps"]} runs each, {cfg["ops"]} ops per run, capacity {cfg["capacity"]}, {cfg["cpus"]} CPUs</text>',
    ]
    # Legend.
    lx, ly = 40, 36
    for sid in ["std"] + order:
        width = 24 + 6.6 * len(labels[sid])
        if lx + width > W - 20:
            lx, ly = 40, ly + 16
        out.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{color(sid)}"/>')
        out.append(f'<text x="{lx + 16}" y="{ly + 10}" font-size="11">{escape(labels[sid])}</text>')
        lx += width
    out.append(f'<text x="40" y="{ly + 28}" font-size="10" fill="#555">bars: median; whiskers: min..max; '
               'pale bars: reads under one guard (get_ref / one pin / one read lock)</text>')

    workloads = []
    for r in d["throughput"]:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    pw, ph = 320, 230
    for wi, wl in enumerate(workloads):
        threads = sorted({r["threads"] for r in d["throughput"] if r["workload"] == wl})
        groups = []
        for t in threads:
            bars = []
            for mid in order:
                for r in d["throughput"]:
                    if r["workload"] == wl and r["threads"] == t and r["map"] == mid:
                        bars.append((mid, r["median"], r["min"], r["max"], False))
            groups.append((f"{t} thread{'s' if t != 1 else ''}", bars))
        panel(out, 80 + wi * (pw + 80), 115, pw, ph, f"{wl} (higher is better)", "Mops/s", groups)

    # get
    keys = []
    for r in d["get"]:
        if r["keys"] not in keys:
            keys.append(r["keys"])
    groups = []
    for k in keys:
        bars = [(r["map"], r["median"], r["min"], r["max"], r["map"].endswith("/one-guard")) for r in d["get"] if r["keys"] == k]
        groups.append((f"{k:,} keys", bars))
    panel(out, 80, 450, pw, ph, "single-thread get (lower is better)", "ns/op", groups)

    # memory
    ents = []
    for r in d["memory"]:
        if r["entries"] not in ents:
            ents.append(r["entries"])
    groups = []
    for e in ents:
        bars = [(r["map"], r["bytes_per_entry"], None, None, False) for r in d["memory"] if r["entries"] == e]
        groups.append((f"{e:,} entries", bars))
    panel(out, 80 + (pw + 80), 450, pw, ph, "live bytes per entry (lower is better)", "bytes", groups)

    # iteration
    groups = [(f"{cfg['iter_keys']:,} keys", [(r["map"], r["median"], r["min"], r["max"], False) for r in d["iteration"]])]
    panel(out, 80 + 2 * (pw + 80), 450, pw, ph, "iteration (lower is better)", "ns/key", groups)

    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
