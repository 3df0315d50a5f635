/**
 * Dataset names ("scope:name") and the on-disk dataset layout: one folder per dataset at
 * <dataRoot>/datasets/<scope>/<name>, holding the files and dataset.json.
 */
import { join } from 'node:path';

/** File name of the dataset manifest inside a dataset folder. */
export const MANIFEST_NAME = 'dataset.json';

/** Allowed scope and name: letters, digits, `.`, `_`, `-`, `+`, starting with a letter or digit. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/;

/** Why `part` is not a valid scope or name, or undefined if it is. */
export function nameProblem(part: string, what: 'scope' | 'name'): string | undefined {
  if (part.length === 0) return `the ${what} is empty`;
  if (!NAME_RE.test(part)) {
    return `invalid ${what} "${part}": use 1-255 letters, digits, ".", "_", "-" or "+", starting with a letter or digit`;
  }
  return undefined;
}

/** Splits and validates "scope:name"; throws a RangeError with a clear message otherwise. */
export function parseDatasetName(dataset: string): { scope: string; name: string } {
  const colon = dataset.indexOf(':');
  if (colon < 0) throw new RangeError(`invalid dataset "${dataset}": expected "scope:name"`);
  const scope = dataset.slice(0, colon);
  const name = dataset.slice(colon + 1);
  const problem = nameProblem(scope, 'scope') ?? nameProblem(name, 'name');
  if (problem !== undefined) throw new RangeError(`invalid dataset "${dataset}": ${problem}`);
  return { scope, name };
}

/** The folder of one dataset: `<dataRoot>/datasets/<scope>/<name>`. */
export function datasetDir(dataRoot: string, scope: string, name: string): string {
  const problem = nameProblem(scope, 'scope') ?? nameProblem(name, 'name');
  if (problem !== undefined) throw new RangeError(problem);
  return join(dataRoot, 'datasets', scope, name);
}
