#!/usr/bin/env bash
# Regenerates results/: the default sweep, the estimator-quality sweep and the training examples
# (curves, models, density heat maps), then every plot. Runs for ~15 minutes on 2 cores.
# Sweeps resume: delete a CSV to measure it again from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p rmbench-harness
bin=target/release/rmbench
$bin peak
$bin sweep --out results/default
$bin sweep --config harness/sweeps/estimator-quality.toml --out results/estimator-quality
$bin sweep --config harness/sweeps/rbm-scaling.toml --out results/rbm-scaling
for obj in rm ggis-basic ggis-advanced; do
  dir=results/training/2spirals-$obj
  $bin train --dataset 2spirals --model mlp --objective $obj --dim 32 --steps 2000 --lr 5e-4 \
    --log-every 100 --eval --seed 0 --out "$dir"
  $bin density --model "$dir/model.safetensors" --dataset 2spirals --out "$dir/density.csv"
done
bash scripts/redraw-plots.sh
