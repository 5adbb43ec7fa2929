"""Prints the notebook-step comparison as a Markdown table: peer time / Backprop time."""
import json
import platform
import sys
from datetime import date

b1, b2, peers = sys.argv[1:4]
ours = {}
for path in (b1, b2):
    for r in json.load(open(path)):
        ours.setdefault(r["workload"], []).append(r)
peer_rows = [json.loads(line) for line in open(peers) if line.strip()]


def best(workload):
    """Backprop's figure: the better of the two runs that bracket the peers (medians)."""
    runs = ours.get(workload, [])
    return min(runs, key=lambda r: r["median"]) if runs else None


def fmt(ns):
    return f"{ns / 1000:.3g} us" if ns >= 1000 else f"{ns:.3g} ns"


print(f"Measured {date.today()} on {platform.machine()} ({platform.processor() or 'CPU'}), "
      f"Python {platform.python_version()}; Backprop release build.\n")
for kind in ("regression step", "classification step"):
    run = best(f"{kind}, Session.run")
    prep = best(f"{kind}, prepared")
    floor = best(f"{kind}, hand-written Swift")
    print(f"### {kind.capitalize()} (batch 1, one fed sample per step)\n")
    print("| system | median | min - max | peer / Backprop Session.run | peer / Backprop prepared |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in (("Backprop Session.run", run), ("Backprop prepared step", prep), ("hand-written Swift loop (floor)", floor)):
        if r:
            print(f"| {name} | {fmt(r['median'])} | {fmt(r['min'])} - {fmt(r['max'])} | "
                  f"{r['median'] / run['median']:.3g}x | {r['median'] / prep['median']:.3g}x |")
    for p in peer_rows:
        if p.get("workload") == kind:
            print(f"| {p['system']} | {fmt(p['median'])} | {fmt(p['min'])} - {fmt(p['max'])} | "
                  f"{p['median'] / run['median']:.3g}x | {p['median'] / prep['median']:.3g}x |")
    print()
    print(f"Allocations per step: Session.run {run['allocations_per_step']}, prepared {prep['allocations_per_step']}.\n")
