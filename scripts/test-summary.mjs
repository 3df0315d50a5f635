// Sums the results of every suite into one line: "N passed, N failed". A suite whose report is
// missing counts as one failure, so a run in which nothing executed can never look green.
import { readFileSync } from 'node:fs';

const typecheckStatus = Number(process.argv[2] ?? 0);
let passed = 0;
let failed = 0;
const lines = [];

function read(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

const vitest = read('.vitest-results/results.json');
if (vitest) {
  passed += vitest.numPassedTests;
  failed += vitest.numFailedTests;
  lines.push(`vitest: ${vitest.numPassedTests} passed, ${vitest.numFailedTests} failed, ${vitest.numPendingTests + vitest.numTodoTests} skipped`);
} else {
  failed += 1;
  lines.push('vitest: no report (the suite did not run)');
}

const pw = read('e2e/results.json');
if (pw) {
  const ok = pw.stats.expected + pw.stats.flaky;
  passed += ok;
  failed += pw.stats.unexpected;
  lines.push(`playwright: ${ok} passed (${pw.stats.flaky} flaky), ${pw.stats.unexpected} failed, ${pw.stats.skipped} skipped`);
} else {
  failed += 1;
  lines.push('playwright: no report (the suite did not run)');
}

if (typecheckStatus !== 0) {
  failed += 1;
  lines.push('type check: failed');
} else {
  lines.push('type check: passed');
}

for (const l of lines) console.log(l);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
