#!/usr/bin/env bash
# The RMwGGIS synthetic benchmark on rmbench: 7 toy datasets at d = 32, MLP 256×3 with Swish,
# Adam lr 5e-4 (1e-4 for checkerboard), weight decay 1e-4, clip 1, batch 128, s = 10, then MMD
# (d − Hamming kernel, unbiased, 4000 data vs 4000 model samples from 20 Gibbs sweeps started
# uniformly) plus the exponential-Hamming MMD and the exact NLL (d = 32 is too large to enumerate:
# AIS with its standard error). Each run appends one JSON line to results/reproduction/runs.jsonl;
# finished runs are skipped, so the script resumes. STEPS (default 1000) is far below the paper's
# 10⁵ steps: see results/reproduction/README.md.
# Usage: scripts/reproduce-synthetic.sh   Env: STEPS, SEEDS ("0 1 2"), JOBS (parallel runs, 2), OBJECTIVES
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-1000}
seeds=${SEEDS:-"0 1 2"}
jobs=${JOBS:-2}
objs=${OBJECTIVES:-"rm rm-uniform ggis-basic ggis-basic-wor ggis-advanced nce"}
out=results/reproduction
runs=$out/runs
mkdir -p "$runs"
cargo build --release -q -p rmbench-harness
one() {
  set -euo pipefail
  ds=$1; obj=$2; seed=$3; steps=$4; out=$5
  tag="$ds-$obj-s$seed"
  dir="$out/runs/$tag"
  grep -q "\"tag\": \"$tag\"" "$out/runs.jsonl" 2>/dev/null && exit 0
  lr=5e-4; [ "$ds" = checkerboard ] && lr=1e-4
  extra=""; o=$obj
  if [ "$obj" = ggis-basic-wor ]; then o=ggis-basic; extra="--without-replacement"; fi
  start=$(date +%s.%N)
  target/release/rmbench --threads 1 train --dataset "$ds" --model mlp --objective "$o" $extra --dim 32 \
    --steps "$steps" --lr "$lr" --weight-decay 1e-4 --clip 1 --batch 128 --samples 10 --seed "$seed" \
    --log-every 100 --out "$dir" > "$dir.train.json"
  metrics=$(target/release/rmbench --threads 1 eval --model "$dir/model.safetensors" --data "$ds" \
    --ais 100 --mmd-samples 4000 --seed "$seed")
  target/release/rmbench density --model "$dir/model.safetensors" --dataset "$ds" --out "$dir/density.csv" --seed "$seed"
  python3 - "$tag" "$ds" "$obj" "$seed" "$steps" "$metrics" "$dir.train.json" "$start" >> "$out/runs.jsonl" <<'PY'
import json, sys, time
tag, ds, obj, seed, steps, metrics, train, start = sys.argv[1:]
m = json.loads(metrics); t = json.load(open(train))
m.update(tag=tag, dataset=ds, objective=obj, seed=int(seed), steps=int(steps),
         train_wall_ms=t["wall_ms"], final_loss=t["final_loss"], total_s=time.time() - float(start))
print(json.dumps(m))
PY
  echo "done $tag" >&2
}
export -f one
for ds in 2spirals 8gaussians circles moons pinwheel swissroll checkerboard; do
  for obj in $objs; do
    for seed in $seeds; do echo "$ds $obj $seed"; done
  done
done | xargs -P "$jobs" -n 3 bash -c 'one "$0" "$1" "$2" '"$steps $out"
python3 scripts/reproduction-table.py
# Keep 50×50 density grids of seed 0 for rm, ggis-advanced and nce (per-run folders are not committed).
mkdir -p "$out/density"
for ds in 2spirals 8gaussians circles moons pinwheel swissroll checkerboard; do
  for obj in rm ggis-advanced nce; do
    m="$runs/$ds-$obj-s0/model.safetensors"
    [ -f "$m" ] && target/release/rmbench --threads 1 density --model "$m" --dataset "$ds" --grid 50 --n 20000 \
      --out "$out/density/$ds-$obj.csv"
  done
done
