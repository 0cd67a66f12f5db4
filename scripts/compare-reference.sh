#!/usr/bin/env bash
# rmbench against the PyTorch reference step (scripts/reference/rmwggis_step.py), A/B interleaved:
# for every (d, objective) both implementations run the same MLP step (d → 256×3 → 1, batch 128,
# s = 10, Adam + clip) in separate processes, alternating, ROUNDS times each; the CSV keeps the
# median of the per-round medians. Not part of CI: it downloads PyTorch (a large wheel) into a
# virtual environment on first use.
#
# Usage: scripts/compare-reference.sh [--install] [OUT_DIR]   (default OUT_DIR: results/reference)
# Env: DIMS="32 64 …", OBJECTIVES="rm ggis-basic ggis-advanced", THREADS=2, ROUNDS=3, STEPS=5,
#      RMBENCH_VENV (default .venv-reference), TORCH_VERSION (default 2.15.0).
set -euo pipefail
cd "$(dirname "$0")/.."
install=0
if [ "${1:-}" = "--install" ]; then install=1; shift; fi
out=${1:-results/reference}
venv=${RMBENCH_VENV:-.venv-reference}
dims=${DIMS:-"32 64 128 256 512 1024 2048"}
objs=${OBJECTIVES:-"rm ggis-basic ggis-advanced"}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
steps=${STEPS:-5}
if [ ! -x "$venv/bin/python" ]; then
  if [ $install = 0 ]; then
    echo "no PyTorch environment at $venv: rerun with --install (downloads torch ${TORCH_VERSION:-2.15.0})" >&2
    exit 1
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==${TORCH_VERSION:-2.15.0}"
fi
cargo build --release -q -p rmbench-harness
mkdir -p "$out"
raw="$out/raw.jsonl"
: > "$raw"
for d in $dims; do
  for o in $objs; do
    s=$steps; [ "$o" = rm ] && [ "$d" -ge 1024 ] && s=2
    for r in $(seq "$rounds"); do
      target/release/rmbench --threads "$threads" step-bench --model mlp --dim "$d" --objective "$o" \
        --batch 128 --samples 10 --steps "$s" --warmup 1 >> "$raw"
      "$venv/bin/python" scripts/reference/rmwggis_step.py --dim "$d" --objective "$o" --batch 128 \
        --samples 10 --threads "$threads" --steps "$s" --warmup 1 >> "$raw"
      echo "d=$d $o round $r" >&2
    done
  done
done
python3 - "$raw" "$out/compare.csv" <<'PY'
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
        "pytorch_peak_rss_mib": round(max(r["peak_rss_mb"] for r in pt), 1),
        "torch": pt[0]["torch"], "cpu": rb[0]["cpu"], "isa": rb[0]["isa"], "git_rev": rb[0]["git_rev"],
    })
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(out[0].keys()))
    w.writeheader()
    w.writerows(out)
for r in out:
    print(f'{r["dim"]:>5} {r["objective"]:<14} rmbench {r["rmbench_ms"]:>9.2f} ms  pytorch {r["pytorch_ms"]:>9.2f} ms  x{r["speedup"]:.2f}  '
          f'RSS {r["rmbench_peak_rss_mib"]} MiB vs {r["pytorch_peak_rss_mib"]} MiB')
PY
target/release/rmbench plot --reference "$out/compare.csv" --out "$out"
