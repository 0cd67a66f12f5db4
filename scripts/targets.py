#!/usr/bin/env python3
"""Issue #7's MLP targets, read off compare.csv files of scripts/compare-reference.sh.

Usage: python3 scripts/targets.py COMPARE.csv [COMPARE.csv ...] [--in-step STEPS.jsonl PEAK.json]

--in-step: take the in-step GEMM rate from step-bench JSON lines (a later build's pass over the
same grid, for compare.csv files written before step-bench reported it), against the GEMM peak
in PEAK.json (`rmbench peak`); the median per (precision, d, objective) is used.

For each precision found (the `isa` column: `avx512` / `avx2` = f32, anything with a `+` = the
mixed path) prints one Markdown row per target with the worst point, the range and `met` or
`not met`:
  - ggis-basic and ggis-advanced ≥ 3× faster than PyTorch at every d (32 … 2048);
  - exact rm ≥ 4× faster for d ≥ 256;
  - exact rm's peak memory ≥ 10× smaller for d ≥ 256 (process peak RSS on both sides);
  - the dense part ≥ 70% of the measured GEMM peak at every point, read two ways: the whole
    step's f32-equivalent FLOPs over its time (`frac_of_peak`; includes the first layer, Swish,
    the proposal and Adam, which are not dense), and the in-situ rate of the f32 GEMMs inside the
    step (`gemm_frac_of_peak`; f32 only, since the mixed path's products are not faer GEMMs).
    Both need the columns compare-reference.sh writes after running `rmbench peak`.
The quadratic/RBM bandwidth target comes from the models bench, not from these files.
"""
import csv
import json
import statistics
import sys


def precision(isa):
    return "f32" if "+" not in isa else isa.split("+", 1)[1]


def verdict(ok):
    return "met" if ok else "**not met**"


def fmt_points(points, unit):
    return ", ".join(f"d = {d} {o} {v:.2f}{unit}" for v, d, o in points)


def report(label, rows):
    ggis = [(r["speedup"], r["dim"], r["objective"]) for r in rows if r["objective"].startswith("ggis")]
    rm = [(r["speedup"], r["dim"], "rm") for r in rows if r["objective"] == "rm" and r["dim"] >= 256]
    mem = [(r["pytorch_peak_rss_mib"] / r["rmbench_peak_rss_mib"], r["dim"], "rm")
           for r in rows if r["objective"] == "rm" and r["dim"] >= 256 and r["rmbench_peak_rss_mib"] > 0]
    dense = [(r["frac_of_peak"], r["dim"], r["objective"]) for r in rows if r.get("frac_of_peak") is not None]
    gemm = [(r["gemm_frac_of_peak"], r["dim"], r["objective"]) for r in rows
            if r.get("gemm_frac_of_peak") is not None and label == "f32"]
    out = []
    for name, pts, bound, unit in [
        ("RMwGGIS ≥ 3× at every d", ggis, 3.0, "×"),
        ("exact rm ≥ 4× for d ≥ 256", rm, 4.0, "×"),
        ("rm peak memory ≥ 10× smaller (d ≥ 256)", mem, 10.0, "×"),
        ("step FLOPs / step time ≥ 70% of the GEMM peak", [(100 * v, d, o) for v, d, o in dense], 70.0, "%"),
        ("in-step f32 GEMMs ≥ 70% of the GEMM peak", [(100 * v, d, o) for v, d, o in gemm], 70.0, "%"),
    ]:
        if not pts:
            if label == "f32" or "GEMMs" not in name:
                out.append(f"| {label} | {name} | no points | – |")
            continue
        lo, hi = min(pts)[0], max(pts)[0]
        below = sorted(p for p in pts if p[0] < bound)
        detail = f"{lo:.2f}–{hi:.2f}{unit} over {len(pts)} points"
        if below:
            detail += f"; below: {fmt_points(below, unit)}"
        out.append(f"| {label} | {name} | {detail} | {verdict(not below)} |")
    return out


def read_in_step(steps_path, peak_path):
    """{(precision, d, objective): in-step GEMM rate / peak} from step-bench JSON lines."""
    try:
        peak = json.loads(open(peak_path).read())["gemm_gflops"]
        rows = [json.loads(l) for l in open(steps_path) if l.strip()]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{steps_path} / {peak_path}: cannot read ({e})")
    rates = {}
    for r in rows:
        if r.get("gemm_gflops_in_step"):
            rates.setdefault((precision(r["isa"]), r["dim"], r["objective"]), []).append(r["gemm_gflops_in_step"])
    return {k: statistics.median(v) / peak for k, v in rates.items()}


def main():
    args = sys.argv[1:]
    in_step = {}
    while "--in-step" in args:
        i = args.index("--in-step")
        if len(args) < i + 3:
            sys.exit("usage: --in-step STEPS.jsonl PEAK.json")
        in_step.update(read_in_step(args[i + 1], args[i + 2]))
        del args[i:i + 3]
    if not args:
        sys.exit("usage: targets.py COMPARE.csv [COMPARE.csv ...] [--in-step STEPS.jsonl PEAK.json]")
    by_precision = {}
    for path in args:
        try:
            f = open(path, newline="")
        except OSError as e:
            sys.exit(f"{path}: cannot read ({e.strerror})")
        with f:
            for line, r in enumerate(csv.DictReader(f), start=2):
                try:
                    row = {
                        "dim": int(r["dim"]), "objective": r["objective"], "speedup": float(r["speedup"]),
                        "rmbench_peak_rss_mib": float(r["rmbench_peak_rss_mib"]),
                        "pytorch_peak_rss_mib": float(r["pytorch_peak_rss_mib"]),
                        "frac_of_peak": float(r["frac_of_peak"]) if r.get("frac_of_peak") else None,
                        "gemm_frac_of_peak": float(r["gemm_frac_of_peak"]) if r.get("gemm_frac_of_peak") else None,
                    }
                except (KeyError, ValueError) as e:
                    sys.exit(f"{path}:{line}: bad or missing column ({e})")
                label = precision(r.get("isa", ""))
                if row["gemm_frac_of_peak"] is None and (label, row["dim"], row["objective"]) in in_step:
                    row["gemm_frac_of_peak"] = in_step[(label, row["dim"], row["objective"])]
                by_precision.setdefault(label, []).append(row)
    print("| precision | target | measured | status |")
    print("|---|---|---|---|")
    for label, rows in sorted(by_precision.items()):
        print("\n".join(report(label, rows)))


if __name__ == "__main__":
    main()
