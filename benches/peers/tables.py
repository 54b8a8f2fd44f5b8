#!/usr/bin/env python3
"""Markdown tables of a kovan-map-peers JSON run, for docs/benchmarks.md.

    python3 benches/peers/tables.py docs/benchmarks.json

Standard library only; prints to stdout. The JSON is what
`kovan-map-peers --out FILE` writes.
"""
import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tables.py RUN.json")
    try:
        with open(sys.argv[1]) as f:
            run = json.load(f)
        labels = {m["id"]: m["label"] for m in run["maps"]}
        order = [m["id"] for m in run["maps"]]
        threads = run["config"]["threads"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"tables.py: {sys.argv[1]}: not a kovan-map-peers run ({e})")

    def label(map_id):
        base, _, variant = map_id.partition("/")
        text = labels.get(base, base).replace("RwLock<std HashMap>", "`RwLock<std HashMap>`")
        return text + (" — under one guard" if variant else "")

    out = []
    workloads = []
    for row in run["throughput"]:
        if row["workload"] not in workloads:
            workloads.append(row["workload"])
    for w in workloads:
        out.append(f"**{w}** — Mops/s, median (min–max), ×ratio to the best other map\n")
        out.append("| map | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
        out.append("| --- |" + " --- |" * len(threads))
        for m in order:
            cells = []
            for t in threads:
                r = [x for x in run["throughput"] if x["workload"] == w and x["threads"] == t and x["map"] == m]
                cells.append(
                    f"{r[0]['median']:.2f} ({r[0]['min']:.2f}–{r[0]['max']:.2f}) ×{r[0]['ratio_to_best_other']:.2f}"
                    if r else "–")
            if any(c != "–" for c in cells):
                out.append(f"| {label(m)} | " + " | ".join(cells) + " |")
        out.append("")

    def grid(title, rows, column, header, cell):
        """A table of `rows` with one column per value of `column`."""
        values = sorted({r[column] for r in rows})
        out.append(f"**{title}**\n")
        out.append("| map | " + " | ".join(header(v) for v in values) + " |")
        out.append("| --- |" + " --- |" * len(values))
        maps = []
        for r in rows:
            if r["map"] not in maps:
                maps.append(r["map"])
        for m in maps:
            cells = []
            for v in values:
                r = [x for x in rows if x[column] == v and x["map"] == m]
                cells.append(cell(r[0]) if r else "–")
            name = label(m) if m != "std" else "std HashMap (no lock)"
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")

    grid("Single-thread get, ns/op: median (min–max) ×ratio to std HashMap", run["get"], "keys",
         lambda k: f"{k:,} keys",
         lambda r: f"{r['median']:.1f} ({r['min']:.1f}–{r['max']:.1f}) ×{r['ratio_to_std']:.1f}")
    grid("Live bytes per entry", run["memory"], "entries", lambda e: f"{e:,} entries",
         lambda r: f"{r['bytes_per_entry']:.1f}")

    out.append(f"**Iteration of {run['config']['iter_keys']:,} keys**\n")
    out.append("| map | ns/key, median (min–max) | ×DashMap |")
    out.append("| --- | --- | --- |")
    for r in run["iteration"]:
        name = label(r["map"]) if r["map"] != "std" else "std HashMap (no lock)"
        out.append(f"| {name} | {r['median']:.2f} ({r['min']:.2f}–{r['max']:.2f}) | ×{r['ratio_to_dashmap']:.2f} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
