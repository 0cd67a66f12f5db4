#!/usr/bin/env python3
"""Markdown table of reproduce-tempering.sh: per dataset and objective, the d−Hamming MMD, the
exponential-Hamming MMD and the AIS NLL of the learned model at β = 1 (as trained) and β = 4
(energy × 4). Usage: tempering-table.py results/reproduction/tempering.jsonl"""
import json, sys

runs = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        runs.setdefault((r["dataset"], r["objective"]), {})[r["beta"]] = r
print("| dataset | objective | MMD d−Ham. β=1 | β=4 | MMD exp-Ham. β=1 | β=4 | NLL β=1 | β=4 |")
print("|---|---|---|---|---|---|---|---|")
order = ["rm", "ggis-basic", "ggis-advanced", "rm-sigmoid"]
for (ds, obj) in sorted(runs, key=lambda k: (k[0], order.index(k[1]) if k[1] in order else 9)):
    b = runs[(ds, obj)]
    if 1.0 not in b or 4.0 not in b:
        continue
    f = lambda k, v: f"{b[v][k]:.5f}" if k.startswith("mmd") else f"{b[v][k]:.2f} ± {b[v]['log_z_stderr']:.2f}"
    print(f"| {ds} | {obj} | {f('mmd_hamming', 1.0)} | {f('mmd_hamming', 4.0)} | {f('mmd_exp_hamming', 1.0)} | "
          f"{f('mmd_exp_hamming', 4.0)} | {f('nll', 1.0)} | {f('nll', 4.0)} |")
