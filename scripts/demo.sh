#!/usr/bin/env bash
# The demo: installs dependencies, builds, generates a demo dataset, starts an ESS node and four
# workers running a small payload, keeps tasks coming, and prints the dashboard URL. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm install --frozen-lockfile
pnpm build
exec node scripts/demo.mjs "$@"
