#!/usr/bin/env bash
# Binarized MNIST (784 bits, ../shared/data): MLP 256×3 and RBM (H = 256) trained with rm,
# ggis-basic and ggis-advanced for STEPS steps (default 3000; exact rm, 50× dearer per step, for
# STEPS_RM = 600), then the test NLL with log Z by AIS (standard error reported), the time and peak
# memory of one training step from `rmbench step-bench`, and 64 model samples (100 Gibbs sweeps
# from uniform, at β = 1 and β = 4) drawn as grids. One JSON line per run in $OUT/mnist.jsonl
# (OUT defaults to results/reproduction; WORK, the models and curves, to out/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-3000}
out=${OUT:-results/reproduction}
work=${WORK:-out/mnist}
mkdir -p "$work"
cargo build --release -q -p rmbench-harness
bin=target/release/rmbench
$bin data --dataset mnist --out "$work/mnist.npy" --test-fraction 0.2 --seed 0
: > "$out/mnist.jsonl"
mkdir -p "$out/mnist-samples"
$bin data --dataset mnist --n 64 --seed 1 --out "$out/mnist-samples/data.txt" > /dev/null   # 64 data digits beside
for model in mlp rbm; do
  for obj in rm ggis-basic ggis-advanced; do
    dir="$work/$model-$obj"
    n_steps=$steps; [ "$obj" = rm ] && n_steps=${STEPS_RM:-600}
    $bin train --dataset "file:$work/mnist.npy" --model $model --hidden 256 --layers 3 --objective $obj \
      --steps "$n_steps" --log-every 50 --seed 0 --out "$dir" > "$dir.train.json"
    ev=$($bin eval --model "$dir/model.safetensors" --data "$work/mnist.test.npy" --ais 100 --mmd-samples 0 --seed 0)
    # β = 1 is the model as trained; β = 4 undoes the ¼ tempering of the rm family's minimizer.
    for beta in 1 4; do
      sfx=""; [ "$beta" = 1 ] || sfx="-beta$beta"
      $bin sample --model "$dir/model.safetensors" --n 64 --sweeps 100 --seed 0 --beta "$beta" \
        --out "$out/mnist-samples/$model-$obj$sfx.txt" > /dev/null
    done
    sb=$($bin step-bench --model $model --dim 784 --hidden 256 --layers 3 --objective $obj --steps 5 --warmup 1)
    python3 - "$model" "$obj" "$n_steps" "$ev" "$sb" "$dir.train.json" >> "$out/mnist.jsonl" <<'PY'
import json, sys
model, obj, steps, ev, sb, train = sys.argv[1:]
e, s, t = json.loads(ev), json.loads(sb), json.load(open(train))
print(json.dumps({"model": model, "objective": obj, "steps": int(steps), "test_nll": e["nll"],
                  "log_z": e["log_z"], "log_z_stderr": e["log_z_stderr"], "train_wall_ms": t["wall_ms"],
                  "step_ms_median": s["step_ms_median"], "peak_heap_mib": (s["peak_bytes"] or 0) / 2**20,
                  "process_peak_rss_mib": s["process_peak_rss_mib"]}))
PY
    echo "done $model $obj" >&2
  done
done
$bin plot --samples "$out"/mnist-samples/*.txt --image-width 28 --out "$out/mnist-samples" > /dev/null
cat "$out/mnist.jsonl"
