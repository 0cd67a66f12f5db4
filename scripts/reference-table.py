#!/usr/bin/env python3
"""Markdown table of a reference-shapes sweep against issue #7's PyTorch figures.

Usage: python3 scripts/reference-table.py [--pytorch COMPARE.csv] [SWEEP.csv ...]
  (default: results/reference-shapes/sweep.csv and results/reference-shapes/repeats/*.csv)
  --pytorch: take the PyTorch figures from an A/B run of scripts/compare-reference.sh on the same
  machine (its `pytorch_ms` column) instead of the issue's table.

Each CSV is one pass of the sweep (run at different times: this machine's timing drifts by up to
±30% over minutes). For each objective and precision (the ISA column: `avx512` = f32,
`avx512+bf16` = bf16 differences on `vdpbf16ps`, `avx512+amx-bf16` = the same on AMX tiles) prints the median over passes of the per-pass median ms per step
with the range over passes, the ratio PyTorch / (that median) with its range, the f32-equivalent
dense FLOP rate as a fraction of the measured f32 GEMM peak (`frac_of_peak`, median over passes)
and the peak heap. The PyTorch numbers are the issue's table (2-core AMD Zen 4, PyTorch 2.15, 2 threads),
not an A/B run: `scripts/compare-reference.sh` makes one where PyTorch is installed.
"""
import csv
import glob
import statistics
import sys

DIMS = [32, 64, 128, 256, 512, 1024, 2048]
PYTORCH = {
    "rm": [33, 76, 158, 477, 1020, 2100, 4500],
    "ggis-basic": [18, 18, 20, 24, 30, 41, 62],
    "ggis-advanced": [15, 16, 15, 19, 24, 37, 54],
}


def label_of(isa):
    return "bf16 (AMX)" if "amx" in isa else "bf16" if "bf16" in isa else "f32"


def main():
    args = sys.argv[1:]
    source = "issue #7"
    if args[:1] == ["--pytorch"]:
        rows = list(csv.DictReader(open(args[1])))
        for obj in PYTORCH:
            PYTORCH[obj] = [
                next((float(r["pytorch_ms"]) for r in rows if r["objective"] == obj and int(r["dim"]) == d), None)
                for d in DIMS
            ]
        source = f"A/B, {args[1]}"
        args = args[2:]
    paths = args or ["results/reference-shapes/sweep.csv"] + sorted(
        glob.glob("results/reference-shapes/repeats/*.csv")
    )
    passes = [[r for r in csv.DictReader(open(p)) if not r["err"] and r["step_ms_median"]] for p in paths]
    isas = sorted({r["isa"] for rows in passes for r in rows})
    print(f"Passes: {len(paths)} ({', '.join(paths)})\n")
    print("| median ms per step | " + " | ".join(f"d={d}" for d in DIMS) + " |")
    print("|---" * (len(DIMS) + 1) + "|")
    for obj, ref in PYTORCH.items():
        for isa in isas:
            label = label_of(isa)
            cells, ratios, fracs, heaps = [], [], [], []
            for d, p in zip(DIMS, ref):
                hits = [
                    r for rows in passes for r in rows if r["objective"] == obj and int(r["dim"]) == d and r["isa"] == isa
                ]
                if not hits or p is None:
                    cells.append("–"), ratios.append("–"), fracs.append("–"), heaps.append("–")
                    continue
                ms = [float(r["step_ms_median"]) for r in hits]
                med = statistics.median(ms)
                rng = f" ({min(ms):.1f}–{max(ms):.1f})" if len(ms) > 1 else ""
                cells.append(f"{med:.1f}{rng}")
                rr = f" ({p / max(ms):.2f}–{p / min(ms):.2f})" if len(ms) > 1 else ""
                ratios.append(f"**{p / med:.2f}×**{rr}")
                fr = [float(r["frac_of_peak"]) for r in hits if r["frac_of_peak"]]
                fracs.append(f"{100 * statistics.median(fr):.0f}%" if fr else "–")
                heaps.append(f"{statistics.median(int(r['peak_bytes']) for r in hits) / 2**20:.0f}")
            print(f"| {obj} {label}: rmbench | " + " | ".join(cells) + " |")
            print(f"| {obj} {label}: PyTorch / rmbench | " + " | ".join(ratios) + " |")
            print(f"| {obj} {label}: dense FLOP/s ÷ f32 GEMM peak | " + " | ".join(fracs) + " |")
            print(f"| {obj} {label}: peak heap MiB | " + " | ".join(heaps) + " |")
        print(f"| {obj}: PyTorch ({source}) | " + " | ".join("–" if v is None else f"{v:.1f}" for v in ref) + " |")


if __name__ == "__main__":
    main()
