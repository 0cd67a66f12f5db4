#!/usr/bin/env bash
# Learning Ising couplings in the Gibbs-with-Gradients convention (J = 2σA on an L×L periodic
# lattice, 2000 samples by single-site Gibbs: 20 chains, 10⁶ burn-in updates each, thinning 10
# sweeps): the quadratic model trained with rm, rm-sigmoid, ggis-basic, ggis-advanced and the
# Gibbs-with-Gradients PCD baseline (pcd-gwg, 256 persistent chains, K GWG steps per update), all
# with GWG's optimizer settings: Adam lr 1e-3, no clipping (clipping would rescale the gradient
# against the L1 term added after it), L1 penalty 0.01, batch 256. The curve CSVs log the log-RMSE of c·J (symmetrized) against
# the true J over all d² entries, for c = 1 and c = 4 (rm's minimizer is the ¼-tempered model),
# against wall-clock time; ising-summary.py tabulates them.
# Usage: scripts/reproduce-ising.sh   Env: STEPS (1000), LS ("10 25"), SIGMAS, OBJECTIVES, K (20), L1 (0.01), LR (1e-3).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-1000}
out=results/reproduction/ising
mkdir -p "$out"
cargo build --release -q -p rmbench-harness
bin=target/release/rmbench
for L in ${LS:-10 25}; do
  for sigma in ${SIGMAS:-0.1 0.25 0.5}; do
    for obj in ${OBJECTIVES:-rm rm-sigmoid ggis-basic ggis-advanced pcd-gwg}; do
      dir="$out/L$L-sigma$sigma-$obj"
      [ -f "$dir/done" ] && continue   # resumable: finished runs are skipped
      if $bin --threads 2 train --dataset "ising:L=$L,sigma=$sigma" --n 2000 --model quadratic --objective "$obj" \
        --steps "$steps" --lr "${LR:-1e-3}" --clip 0 --weight-decay 0 --l1 "${L1:-0.01}" --batch 256 --samples 10 \
        --pcd-steps "${K:-20}" --seed 0 --log-every 50 --eval --coupling-scale 1,4 \
        --out "$dir" > "$dir.json" 2> "$dir.err"; then
        echo "done L=$L sigma=$sigma $obj" >&2
      else
        echo "failed L=$L sigma=$sigma $obj: $(tail -1 "$dir.err")" >&2   # the curve up to the failure is kept
      fi
      touch "$dir/done"
    done
    $bin plot --curves "$out"/L$L-sigma$sigma-*/curve.csv --out "$out/plots-L$L-sigma$sigma" > /dev/null
  done
done
python3 scripts/ising-summary.py "$out" > "$out/summary.csv"
cat "$out/summary.csv"
