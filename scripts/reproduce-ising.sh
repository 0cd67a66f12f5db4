#!/usr/bin/env bash
# Learning Ising couplings in the Gibbs-with-Gradients convention (J = 2σA on an L×L periodic
# lattice, 2000 samples by single-site Gibbs: 20 chains, 10⁶ burn-in updates each, thinning 10
# sweeps): the quadratic model trained with rm, ggis-basic and ggis-advanced; the curve CSVs log
# the log-RMSE of the symmetrized learned J against the true J (all d² entries) against wall-clock
# time. Usage: scripts/reproduce-ising.sh   Env: STEPS (default 2000), LS ("10 25"), SIGMAS.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-2000}
out=results/reproduction/ising
mkdir -p "$out"
cargo build --release -q -p rmbench-harness
bin=target/release/rmbench
for L in ${LS:-10 25}; do
  for sigma in ${SIGMAS:-0.1 0.25 0.5}; do
    for obj in rm ggis-basic ggis-advanced; do
      dir="$out/L$L-sigma$sigma-$obj"
      [ -f "$dir/curve.csv" ] && continue
      lr=1e-2; [ "$L" -gt 16 ] && lr=2e-3   # d² couplings: smaller steps for the 625-spin lattice
      if $bin --threads 2 train --dataset "ising:L=$L,sigma=$sigma" --n 2000 --model quadratic --objective "$obj" \
        --steps "$steps" --lr "$lr" --weight-decay 0 --batch 128 --samples 10 --seed 0 --log-every 50 --eval \
        --out "$dir" > "$dir.json" 2> "$dir.err"; then
        echo "done L=$L sigma=$sigma $obj" >&2
      else
        echo "failed L=$L sigma=$sigma $obj: $(cat "$dir.err")" >&2   # the curve up to the failure is kept
      fi
    done
    $bin plot --curves "$out"/L$L-sigma$sigma-*/curve.csv --out "$out/plots-L$L-sigma$sigma" > /dev/null
  done
done
