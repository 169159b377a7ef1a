#!/usr/bin/env bash
# From a fresh clone to a task-arithmetic result, offline: the Debian packages (as root),
# the npm packages, the build, the example checkpoints (trained once: about a minute and a
# half on two cores), then examples/negation.tvr with its per-task metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
npm install --no-audit --no-fund
npm run build
npm run examples:train
bin/tvr run examples/negation.tvr
