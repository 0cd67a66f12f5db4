#!/usr/bin/env bash
# A/B of two rmbench builds on the RBM training step, interleaved: 3 rounds × d ∈ {64, 256, 784,
# 2048} × {rm, ggis-basic, ggis-advanced}, H = 256, n = 128, s = 10, 2 threads.
# Usage: scripts/ab-rbm-step.sh OLD_BIN NEW_BIN OUT.csv   (≈ 1 min on 2 cores)
set -euo pipefail
old=$1 new=$2 out=$3
tmp=$(mktemp)
for round in 1 2 3; do
  for d in 64 256 784 2048; do
    for obj in rm ggis-basic ggis-advanced; do
      for build in session-start:"$old" session-5:"$new"; do
        steps=20; [ "$obj" = rm ] && [ "$d" -ge 784 ] && steps=10
        line=$("${build#*:}" --threads 2 step-bench --model rbm --dim "$d" --batch 128 --samples 10 \
          --objective "$obj" --steps $steps --warmup 2 2>/dev/null)
        echo "{\"build\":\"${build%%:*}\",\"round\":$round,${line:1}" >> "$tmp"
      done
    done
  done
done
python3 - "$tmp" "$out" <<'PY'
import csv, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
w = csv.writer(open(sys.argv[2], "w", newline=""))
cols = ["objective", "dim", "hidden", "batch", "samples", "threads", "round", "build", "git_rev",
        "step_ms_median", "step_ms_q1", "step_ms_q3", "process_peak_rss_mib", "isa", "cpu"]
w.writerow(cols)
for r in rows:
    w.writerow([r[c] if not isinstance(r[c], float) else f"{r[c]:.3f}" for c in cols])
PY
rm -f "$tmp"
echo "wrote $out"
