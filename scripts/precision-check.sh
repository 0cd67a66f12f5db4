#!/usr/bin/env bash
# What the MLP's reduced precisions cost in model quality: the RMwGGIS synthetic setup (MLP 256×3,
# d = 32, ggis-advanced, Adam lr 5e-4, weight decay 1e-4, clip 1, batch 128, s = 10) trained with
# --precision f32, bf16x3 and bf16 from the same seeds, every model then evaluated in f32 (MMD of
# 4000 vs 4000 samples from 20 Gibbs sweeps, AIS NLL with 100 temperatures). Each run appends one
# JSON line to OUT/runs.jsonl (finished runs are skipped, so the script resumes); OUT/summary.md
# compares each precision with f32 per seed (paired) and with f32's own seed-to-seed spread.
# Usage: scripts/precision-check.sh [OUT]   (default results/precision)
# Env: STEPS (1000), SEEDS ("0 1 2"), DATASETS ("2spirals checkerboard"), PRECISIONS
#      ("f32 bf16x3 bf16"), THREADS (2; results depend on the thread count, not on the machine's load).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/precision}
steps=${STEPS:-1000}
seeds=${SEEDS:-"0 1 2"}
datasets=${DATASETS:-"2spirals checkerboard"}
precisions=${PRECISIONS:-"f32 bf16x3 bf16"}
threads=${THREADS:-2}
mkdir -p "$out/runs"
cargo build --release -q -p rmbench-harness
bin=target/release/rmbench
for ds in $datasets; do
  lr=5e-4; [ "$ds" = checkerboard ] && lr=1e-4
  for p in $precisions; do
    for seed in $seeds; do
      tag="$ds-$p-s$seed"
      grep -q "\"tag\": \"$tag\"" "$out/runs.jsonl" 2>/dev/null && continue
      dir="$out/runs/$tag"
      "$bin" --threads "$threads" --precision "$p" train --dataset "$ds" --model mlp --objective ggis-advanced \
        --dim 32 --steps "$steps" --lr "$lr" --weight-decay 1e-4 --clip 1 --batch 128 --samples 10 \
        --seed "$seed" --log-every 50 --out "$dir" > "$dir.train.json"
      metrics=$("$bin" --threads "$threads" eval --model "$dir/model.safetensors" --data "$ds" --ais 100 \
        --mmd-samples 4000 --seed "$seed")
      python3 - "$tag" "$ds" "$p" "$seed" "$steps" "$metrics" "$dir.train.json" "$dir/curve.csv" \
        >> "$out/runs.jsonl" <<'PY'
import csv, json, sys
tag, ds, p, seed, steps, metrics, train, curve = sys.argv[1:]
m = json.loads(metrics)
t = json.load(open(train))
rows = list(csv.DictReader(open(curve)))
m.update(tag=tag, dataset=ds, precision=p, seed=int(seed), steps=int(steps), isa=rows[-1]["isa"],
         train_wall_ms=t["wall_ms"], final_loss=t["final_loss"],
         curve=[[int(r["step"]), float(r["loss"])] for r in rows])
print(json.dumps(m))
PY
      echo "done $tag" >&2
    done
  done
done
python3 - "$out/runs.jsonl" "$out/summary.md" <<'PY'
import json, statistics as st, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["dataset"], r["precision"], r["seed"]): r for r in runs}
out = ["| dataset | precision | ISA | train s | MMD Hamming (mean ± sd) | NLL (mean ± sd) | loss within 10⁻⁴ of f32's (same seed) through step | largest |Δ loss| / loss there | paired |Δ MMD| vs f32 | paired |Δ NLL| vs f32 |",
       "|---|---|---|---|---|---|---|---|---|---|"]
def ms(v):
    return f"{st.mean(v):.4g} ± {st.stdev(v):.2g}" if len(v) > 1 else f"{v[0]:.4g}"
for ds in dict.fromkeys(r["dataset"] for r in runs):
    for p in dict.fromkeys(r["precision"] for r in runs):
        rs = [r for (d, q, _), r in by.items() if d == ds and q == p]
        if not rs:
            continue
        mmd = [r["mmd_hamming"] for r in rs]
        nll = [r["nll"] for r in rs]
        tracked, worst, dmmd, dnll = [], [], [], []
        for r in rs:
            f = by.get((ds, "f32", r["seed"]))
            if f is None or p == "f32":
                continue
            ref = dict((s, l) for s, l in f["curve"])
            rel = [(s, abs(l - ref[s]) / abs(ref[s])) for s, l in r["curve"] if s in ref and ref[s] != 0]
            # The draws follow the model's proposal, so once one draw differs the runs part ways.
            n = next((i for i, (_, v) in enumerate(rel) if v >= 1e-4), len(rel))
            tracked.append(rel[n - 1][0] if n > 0 else 0)
            worst += [v for _, v in rel[:n]]
            dmmd.append(abs(r["mmd_hamming"] - f["mmd_hamming"]))
            dnll.append(abs(r["nll"] - f["nll"]))
        steps = "–".join(sorted({str(min(tracked)), str(max(tracked))}, key=int)) if tracked else "—"
        cmp = f"{steps} | {max(worst):.1e}" if worst else (f"{steps} | —" if tracked else "— | —")
        dm = f"{max(dmmd):.2g}" if dmmd else "—"
        dn = f"{max(dnll):.2g}" if dnll else "—"
        wall = st.mean(r["train_wall_ms"] for r in rs) / 1e3
        out.append(f"| {ds} | {p} | {rs[0]['isa']} | {wall:.1f} | {ms(mmd)} | {ms(nll)} | {cmp} | {dm} | {dn} |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
