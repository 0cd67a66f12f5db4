#!/usr/bin/env python3
"""Markdown table of a reference-shapes sweep against issue #7's PyTorch figures.

Usage: python3 scripts/reference-table.py [results/reference-shapes/sweep.csv]

For each objective and precision (the ISA column: `avx512` = f32, `avx512+bf16` = bf16
differences) prints the median ms per step with quartiles, the ratio PyTorch / rmbench, the
f32-equivalent dense FLOP rate as a fraction of the measured f32 GEMM peak (`frac_of_peak`) and the
peak heap. The PyTorch numbers are the issue's table (2-core AMD Zen 4, PyTorch 2.15, 2 threads),
not an A/B run: `scripts/compare-reference.sh` makes one where PyTorch is installed.
"""
import csv
import sys

DIMS = [32, 64, 128, 256, 512, 1024, 2048]
PYTORCH = {
    "rm": [33, 76, 158, 477, 1020, 2100, 4500],
    "ggis-basic": [18, 18, 20, 24, 30, 41, 62],
    "ggis-advanced": [15, 16, 15, 19, 24, 37, 54],
}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "results/reference-shapes/sweep.csv"
    rows = [r for r in csv.DictReader(open(path)) if not r["err"] and r["step_ms_median"]]
    isas = sorted({r["isa"] for r in rows})
    print("| median ms per step (quartiles) | " + " | ".join(f"d={d}" for d in DIMS) + " |")
    print("|---" * (len(DIMS) + 1) + "|")
    for obj, ref in PYTORCH.items():
        for isa in isas:
            label = "bf16" if "bf16" in isa else "f32"
            cells, ratios, fracs, heaps = [], [], [], []
            for d, p in zip(DIMS, ref):
                hit = [r for r in rows if r["objective"] == obj and int(r["dim"]) == d and r["isa"] == isa]
                if not hit:
                    cells.append("–"), ratios.append("–"), fracs.append("–"), heaps.append("–")
                    continue
                r = hit[0]
                ms, q1, q3 = (float(r[k]) for k in ("step_ms_median", "step_ms_q1", "step_ms_q3"))
                cells.append(f"{ms:.1f} ({q1:.1f}–{q3:.1f})")
                ratios.append(f"**{p / ms:.2f}×**")
                fracs.append(f"{100 * float(r['frac_of_peak']):.0f}%" if r["frac_of_peak"] else "–")
                heaps.append(f"{int(r['peak_bytes']) / 2**20:.0f}")
            print(f"| {obj} {label}: rmbench | " + " | ".join(cells) + " |")
            print(f"| {obj} {label}: PyTorch / rmbench | " + " | ".join(ratios) + " |")
            print(f"| {obj} {label}: dense FLOP/s ÷ f32 GEMM peak | " + " | ".join(fracs) + " |")
            print(f"| {obj} {label}: peak heap MiB | " + " | ".join(heaps) + " |")
        print(f"| {obj}: PyTorch (issue #7) | " + " | ".join(str(v) for v in ref) + " |")


if __name__ == "__main__":
    main()
