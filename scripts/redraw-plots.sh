#!/usr/bin/env bash
# Redraws every committed figure from the committed CSVs alone (CI runs this into a temporary
# folder to prove the plots regenerate). Usage: scripts/redraw-plots.sh [OUT_DIR]
# With no OUT_DIR the figures are written next to their CSVs, replacing the committed ones.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-}
bin=target/release/rmbench
cargo build --release -q -p rmbench-harness
# Every sweep and every reference comparison under results/ (figures beside the CSV, sweeps in plots/).
find results -name sweep.csv -not -path '*/runs/*' | sort | while read -r csv; do
  dir=$(dirname "$csv")
  dest=${out:+$out/${dir#results/}}
  $bin plot --sweep "$csv" --out "${dest:-$dir/plots}" > /dev/null
  echo "redrew $dir"
done
find results -name compare.csv | sort | while read -r csv; do
  dir=$(dirname "$csv")
  dest=${out:+$out/${dir#results/}}
  $bin plot --reference "$csv" --out "${dest:-$dir}" > /dev/null
  echo "redrew $dir"
done
if ls results/training/*/curve.csv > /dev/null 2>&1; then
  dest=${out:+$out/training}
  $bin plot --curves results/training/*/curve.csv --out "${dest:-results/training/plots}" > /dev/null
  echo "redrew results/training curves"
fi
for d in results/training/*/density.csv; do
  [ -f "$d" ] || continue
  name=$(basename "$(dirname "$d")")
  dest=${out:+$out/training/$name}
  $bin plot --density "$d" --out "${dest:-$(dirname "$d")}" > /dev/null
  echo "redrew $d"
done
for p in results/reproduction/ising/plots-*; do
  [ -d "$p" ] || continue
  key=${p##*/plots-}                                   # e.g. L10-sigma0.25
  dest=${out:+$out/ising/plots-$key}
  rm -f "${dest:-$p}"/*.png "${dest:-$p}"/*.svg 2>/dev/null || true
  $bin plot --curves results/reproduction/ising/$key-*/curve.csv --out "${dest:-$p}" > /dev/null
  echo "redrew $p"
done
for d in results/reproduction/density/*.csv; do
  [ -f "$d" ] || continue
  dest=${out:+$out/reproduction-density}
  $bin plot --density "$d" --out "${dest:-results/reproduction/density}" > /dev/null
  echo "redrew $d"
done
if ls results/reproduction/mnist-samples/*.txt > /dev/null 2>&1; then
  dest=${out:+$out/mnist-samples}
  $bin plot --samples results/reproduction/mnist-samples/*.txt --image-width 28 \
    --out "${dest:-results/reproduction/mnist-samples}" > /dev/null
  echo "redrew results/reproduction/mnist-samples"
fi
if ls results/reproduction/tempering-density/*.csv > /dev/null 2>&1; then
  dest=${out:+$out/tempering-density}
  $bin plot --density results/reproduction/tempering-density/*.csv \
    --out "${dest:-results/reproduction/tempering-density}" > /dev/null
  echo "redrew results/reproduction/tempering-density"
fi
