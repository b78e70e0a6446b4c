#!/usr/bin/env bash
# The fuller calibration check of finefail's verdicts (docs/metrics.md, "Calibration"): simulated
# studies through the scoring crate's own comparison code, S = 1/2/3/5 seeds, per-seed shifts up to
# 0.08, continuous and 0/1 scores. Prints a Markdown table. Dev profile (the score crate is
# optimised there); minutes on 2 cores.
# Usage: scripts/stats-calibration.sh [--studies N] [--power-studies N] [--questions N]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p finefail-score --example stats_calibration -- "$@"
