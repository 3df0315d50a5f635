#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, pnpm, dependencies), builds, and runs
# every suite: type checks, vitest (unit, property and integration tests), Playwright. Ends with
# one line "N passed, N failed" summed over every suite, so a run where nothing ran cannot pass.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --system || { echo "0 passed, 1 failed"; exit 1; }
pnpm install --frozen-lockfile || { echo "0 passed, 1 failed"; exit 1; }
pnpm build || { echo "0 passed, 1 failed"; exit 1; }

rm -rf .vitest-results e2e/results.json
mkdir -p .vitest-results
status=0

echo "== type check (sources, tests, benchmarks)"
pnpm typecheck; typecheck=$?

echo "== vitest"
CI=1 pnpm exec vitest run; vitest=$?

echo "== playwright"
pnpm e2e; e2e=$?

node scripts/test-summary.mjs "$typecheck" || status=1
[ "$typecheck" -eq 0 ] && [ "$vitest" -eq 0 ] && [ "$e2e" -eq 0 ] || status=1
exit $status
