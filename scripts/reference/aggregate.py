#!/usr/bin/env python3
"""Joins the JSON lines of rmbench step-bench and rmwggis_step.py into compare.csv: per (d,
objective) the median over rounds of each side's median step time, the speed-up, and each
process's peak memory (rmbench: heap above baseline and process peak RSS; PyTorch: peak RSS)."""
import csv, json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
key = lambda r: (r["dim"], r["objective"])
out = []
for k in sorted({key(r) for r in rows}):
    rb = [r for r in rows if key(r) == k and r["impl"] == "rmbench"]
    pt = [r for r in rows if key(r) == k and r["impl"] == "pytorch"]
    if not rb or not pt:
        continue
    a = statistics.median(r["step_ms_median"] for r in rb)
    b = statistics.median(r["step_ms_median"] for r in pt)
    out.append({
        "schema_version": 1, "dim": k[0], "objective": k[1], "batch": 128, "samples": 10,
        "threads": rb[0]["threads"], "rounds": len(rb),
        "rmbench_ms": round(a, 3), "pytorch_ms": round(b, 3), "speedup": round(b / a, 3),
        "rmbench_peak_heap_mib": round(max(r["peak_bytes"] or 0 for r in rb) / 2**20, 1),
        "rmbench_peak_rss_mib": round(max(r.get("process_peak_rss_mib") or 0 for r in rb), 1),
        "pytorch_peak_rss_mib": round(max(r["peak_rss_mb"] for r in pt), 1),
        "torch": pt[0]["torch"], "cpu": rb[0]["cpu"], "isa": rb[0]["isa"], "git_rev": rb[0]["git_rev"],
    })
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(out[0].keys()))
    w.writeheader()
    w.writerows(out)
for r in out:
    print(f'{r["dim"]:>5} {r["objective"]:<14} rmbench {r["rmbench_ms"]:>9.2f} ms  pytorch {r["pytorch_ms"]:>9.2f} ms  '
          f'x{r["speedup"]:.2f}  heap {r["rmbench_peak_heap_mib"]} MiB, RSS {r["rmbench_peak_rss_mib"]} vs {r["pytorch_peak_rss_mib"]} MiB')
