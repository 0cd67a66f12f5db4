#!/usr/bin/env python3
"""Tabulates the Ising runs of reproduce-ising.sh: one row per (L, σ, objective) with the steps
done, training wall time and, for c = 1 and c = 4, the log-RMSE of c·J at the start (J = 0), the
last logged step and the best logged step. Usage: ising-summary.py results/reproduction/ising"""
import csv, glob, math, os, re, sys

root = sys.argv[1]
print("L,sigma,objective,steps,wall_s,log_rmse_J0,log_rmse_last,log_rmse_best,log_rmse_x4_last,log_rmse_x4_best,failed")
for path in sorted(glob.glob(os.path.join(root, "L*-sigma*-*/curve.csv"))):
    m = re.match(r"L(\d+)-sigma([\d.]+)-(.+)", os.path.basename(os.path.dirname(path)))
    L, sigma, obj = int(m[1]), float(m[2]), m[3]
    rows = list(csv.DictReader(open(path)))
    if not rows:
        continue
    # Zero J: RMSE over d² entries of J = 2σA (4 neighbours per site) is 2σ·sqrt(4/d).
    j0 = math.log(2 * sigma * math.sqrt(4 / (L * L)))
    by = {}
    for r in rows:
        if r["metric_value"]:
            by.setdefault(r["metric"], []).append(float(r["metric_value"]))
    raw, x4 = by.get("coupling_log_rmse", [math.nan]), by.get("coupling_log_rmse_x4", [math.nan])
    err = os.path.join(root, os.path.basename(os.path.dirname(path)) + ".err")
    failed = os.path.exists(err) and "error" in open(err).read().lower()
    print(f"{L},{sigma},{obj},{rows[-1]['step']},{float(rows[-1]['wall_ms']) / 1e3:.1f},{j0:.3f},"
          f"{raw[-1]:.3f},{min(raw):.3f},{x4[-1]:.3f},{min(x4):.3f},{failed}")
