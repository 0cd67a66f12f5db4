#!/usr/bin/env bash
# A/B of two rmbench builds on the RBM training step (session 5's run): 3 rounds × d ∈ {64, 256,
# 784, 2048} × {rm, ggis-basic, ggis-advanced}, H = 256, n = 128, s = 10, 2 threads.
# Usage: scripts/ab-rbm-step.sh OLD_BIN NEW_BIN OUT.csv   (≈ 1 min on 2 cores)
set -euo pipefail
MODEL=rbm DIMS="64 256 784 2048" LABELS="session-start session-5" \
  exec "$(dirname "$0")/ab-step.sh" "$@"
