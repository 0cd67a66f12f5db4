#!/usr/bin/env bash
# Kernel benches in a short mode, then an instruction-count profile (callgrind) of the hot kernels.
# Writes results/profile/latest.csv and fails if any kernel's instruction count exceeds the
# committed baseline (results/profile/baseline.csv) by more than 10%.
# Under valgrind the CPU shows no AVX-512, so the counts are of the AVX2 paths.
# Usage: scripts/profile-ci.sh [--update-baseline]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

echo "-- criterion benches, quick mode (RMBENCH_BENCH_QUICK=1)"
RMBENCH_BENCH_QUICK=1 cargo bench -p rmbench-benches --bench bits --bench models --bench datasets --bench dense -- --noplot 2>&1 | grep -E "time:|^[a-z_0-9]+/" | head -80 || true

if ! command -v valgrind >/dev/null 2>&1; then
  echo "-- valgrind not found: installing (Debian package valgrind)"
  (apt-get install -y -q valgrind >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q valgrind >/dev/null 2>&1)) || {
    echo "error: valgrind is needed for the instruction-count profile and could not be installed" >&2; exit 1; }
fi

cargo build --release -p rmbench-benches --bin profile-kernels
bin=target/release/profile-kernels
out=results/profile/latest.csv
tmp=$(mktemp -d)
echo "kernel,instructions,isa_under_valgrind" > "$out"
for k in $($bin list); do
  RAYON_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/$k.out" "$bin" "$k" >/dev/null 2>&1
  ir=$(grep -E '^(summary|totals):' "$tmp/$k.out" | head -1 | awk '{print $2}')
  echo "$k,$ir,avx2" >> "$out"
  echo "   $k: $ir instructions"
done

if [ "${1:-}" = "--update-baseline" ]; then
  cp "$out" results/profile/baseline.csv
  echo "-- baseline updated"
  exit 0
fi
python3 - "$out" results/profile/baseline.csv <<'PY'
import csv, sys
latest = {r["kernel"]: int(r["instructions"]) for r in csv.DictReader(open(sys.argv[1]))}
try:
    base = {r["kernel"]: int(r["instructions"]) for r in csv.DictReader(open(sys.argv[2]))}
except FileNotFoundError:
    print("no baseline: run scripts/profile-ci.sh --update-baseline"); sys.exit(1)
bad = []
for k, v in latest.items():
    if k in base:
        ratio = v / base[k]
        flag = "REGRESSION" if ratio > 1.10 else "ok"
        print(f"   {k}: {v} vs baseline {base[k]} ({ratio:.3f}x) {flag}")
        if ratio > 1.10:
            bad.append(k)
    else:
        print(f"   {k}: {v} (no baseline)")
if bad:
    print("error: instruction count regressed by more than 10% for: " + ", ".join(bad)); sys.exit(1)
PY
