#!/usr/bin/env bash
# rmbench against the PyTorch reference step (scripts/reference/rmwggis_step.py), A/B interleaved:
# for every (d, objective) both implementations run the same MLP step (d → 256×3 → 1, batch 128,
# s = 10, Adam + clip) in separate processes, alternating, ROUNDS times each; the CSV keeps the
# median of the per-round medians. Not part of CI: it downloads PyTorch (a large wheel) into a
# virtual environment on first use.
#
# Usage: scripts/compare-reference.sh [--install] [OUT_DIR]   (default OUT_DIR: results/reference)
# Env: DIMS="32 64 …", OBJECTIVES="rm ggis-basic ggis-advanced", THREADS=2, ROUNDS=3, STEPS=5,
#      PRECISION=f32|bf16 (rmbench's --precision; bf16 uses AMX tiles where present, fp16 halves on
#      AVX512-FP16 CPUs without AMX, vdpbf16ps on AVX512-BF16, int16 vpmaddwd on AVX2 CPUs),
#      RMBENCH_VENV (default .venv-reference), TORCH_VERSION (default 2.15.0),
#      RMBENCH_BIN (an rmbench binary to time instead of building this checkout's; copy it out of
#      target/ first so a rebuild during the run cannot change it).
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
precision=${PRECISION:-f32}
if [ ! -x "$venv/bin/python" ]; then
  if [ $install = 0 ]; then
    echo "no PyTorch environment at $venv: rerun with --install (downloads torch ${TORCH_VERSION:-2.15.0})" >&2
    exit 1
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "torch==${TORCH_VERSION:-2.15.0}"
fi
bin=${RMBENCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p rmbench-harness
  bin=$(mktemp -d)/rmbench
  cp target/release/rmbench "$bin"
fi
mkdir -p "$out"
raw="$out/raw.jsonl"
: > "$raw"
for d in $dims; do
  for o in $objs; do
    s=$steps; [ "$o" = rm ] && [ "$d" -ge 1024 ] && s=2
    for r in $(seq "$rounds"); do
      "$bin" --threads "$threads" --precision "$precision" step-bench --model mlp --dim "$d" --objective "$o" \
        --batch 128 --samples 10 --steps "$s" --warmup 1 >> "$raw"
      "$venv/bin/python" scripts/reference/rmwggis_step.py --dim "$d" --objective "$o" --batch 128 \
        --samples 10 --threads "$threads" --steps "$s" --warmup 1 >> "$raw"
      echo "d=$d $o round $r" >&2
    done
  done
done
"$bin" --threads "$threads" peak > "$out/peak.json"   # cached after the first measurement
python3 scripts/reference/aggregate.py "$raw" "$out/compare.csv" "$out/peak.json"
python3 scripts/targets.py "$out/compare.csv"
target/release/rmbench plot --reference "$out/compare.csv" --out "$out"
