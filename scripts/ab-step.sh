#!/usr/bin/env bash
# A/B of two rmbench builds on one model's training step, interleaved: ROUNDS rounds × DIMS ×
# OBJECTIVES, each point run by OLD then NEW in separate processes (`rmbench step-bench`, n = 128,
# s = 10), so a drift of the machine's speed hits both builds alike.
# Usage: scripts/ab-step.sh OLD_BIN NEW_BIN OUT.csv
# Env: MODEL (mlp), DIMS ("32 256 2048"), OBJECTIVES ("rm ggis-basic ggis-advanced"), THREADS (2),
#      ROUNDS (3), STEPS (20; 10 for rm at d ≥ 784), PRECISION (f32), LABELS ("old new").
set -euo pipefail
old=$1 new=$2 out=$3
model=${MODEL:-mlp}
dims=${DIMS:-"32 256 2048"}
objs=${OBJECTIVES:-"rm ggis-basic ggis-advanced"}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
precision=${PRECISION:-f32}
read -r label_old label_new <<< "${LABELS:-old new}"
tmp=$(mktemp)
for round in $(seq "$rounds"); do
  for d in $dims; do
    for obj in $objs; do
      for build in "$label_old:$old" "$label_new:$new"; do
        steps=${STEPS:-20}; [ "$obj" = rm ] && [ "$d" -ge 784 ] && steps=$(( steps / 2 ))
        line=$("${build#*:}" --threads "$threads" --precision "$precision" step-bench --model "$model" \
          --dim "$d" --batch 128 --samples 10 --objective "$obj" --steps "$steps" --warmup 2 2>/dev/null)
        echo "{\"build\":\"${build%%:*}\",\"round\":$round,${line:1}" >> "$tmp"
      done
    done
  done
done
python3 - "$tmp" "$out" <<'PY'
import csv, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
w = csv.writer(open(sys.argv[2], "w", newline=""))
cols = ["objective", "dim", "hidden", "batch", "samples", "threads", "round", "build", "git_rev",
        "step_ms_median", "step_ms_q1", "step_ms_q3", "process_peak_rss_mib", "isa", "cpu"]
w.writerow(cols)
for r in rows:
    w.writerow([r[c] if not isinstance(r[c], float) else f"{r[c]:.3f}" for c in cols])
builds = list(dict.fromkeys(r["build"] for r in rows))
for key in dict.fromkeys((r["objective"], r["dim"]) for r in rows):
    med = {b: statistics.median(r["step_ms_median"] for r in rows if (r["objective"], r["dim"]) == key and r["build"] == b) for b in builds}
    print(f"{key[0]:>14} d={key[1]:<5} " + "  ".join(f"{b} {med[b]:8.3f} ms" for b in builds)
          + f"  ratio {med[builds[0]] / med[builds[-1]]:.3f}")
PY
rm -f "$tmp"
echo "wrote $out"
