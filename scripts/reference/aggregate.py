#!/usr/bin/env python3
"""Joins the JSON lines of rmbench step-bench and rmwggis_step.py into compare.csv: per (d,
objective) the median over rounds of each side's median step time, the speed-up, and each
process's peak memory (rmbench: heap above baseline and process peak RSS; PyTorch: peak RSS).

Usage: aggregate.py RAW.jsonl OUT.csv [PEAK.json]
With PEAK.json (one line of `rmbench peak`), three columns are appended: rmbench's median
f32-equivalent dense rate (`rmbench_gflops`, step-bench's FLOPs counted from the model's shapes
over its median step time), the machine's measured GEMM peak and their ratio (`frac_of_peak`);
and where step-bench reported it (builds from session 16 on), the in-situ rate of the f32 GEMMs
inside the step (`gemm_gflops_in_step`, FLOPs counted at each product over the threads' time in
them), its ratio to the peak (`gemm_frac_of_peak`) and the share of the step spent in them."""
import csv, json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peak = json.loads(open(sys.argv[3]).read()) if len(sys.argv) > 3 else None
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
    if peak:
        g = statistics.median(r["gflops"] for r in rb)
        out[-1].update({"rmbench_gflops": round(g, 1), "gemm_peak_gflops": round(peak["gemm_gflops"], 1),
                        "frac_of_peak": round(g / peak["gemm_gflops"], 3)})
        gi = [r["gemm_gflops_in_step"] for r in rb if r.get("gemm_gflops_in_step")]
        if gi:
            gi = statistics.median(gi)
            out[-1].update({"gemm_gflops_in_step": round(gi, 1),
                            "gemm_frac_of_peak": round(gi / peak["gemm_gflops"], 3),
                            "gemm_share": round(statistics.median(r["gemm_share"] for r in rb), 3)})
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(out[0].keys()))
    w.writeheader()
    w.writerows(out)
for r in out:
    print(f'{r["dim"]:>5} {r["objective"]:<14} rmbench {r["rmbench_ms"]:>9.2f} ms  pytorch {r["pytorch_ms"]:>9.2f} ms  '
          f'x{r["speedup"]:.2f}  heap {r["rmbench_peak_heap_mib"]} MiB, RSS {r["rmbench_peak_rss_mib"]} vs {r["pytorch_peak_rss_mib"]} MiB')
