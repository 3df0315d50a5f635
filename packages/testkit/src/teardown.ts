/**
 * Teardown for integration tests, in the manner of Go's `t.Cleanup`: each thing a test starts
 * is registered as it is made, and everything is stopped in reverse order after the test, even
 * when the test failed half-way. One `Teardown` per test file, run from `afterEach`.
 */

export class Teardown {
  private readonly steps: (() => unknown)[] = [];

  /** Runs `step` after the test (steps run last-registered first). */
  defer(step: () => unknown): void {
    this.steps.push(step);
  }

  /** Registers `stop(value)` to run after the test and returns `value`. */
  own<T>(value: T, stop: (value: T) => unknown): T {
    this.defer(() => stop(value));
    return value;
  }

  /** Runs every registered step, newest first; if any fail, throws them all once the rest ran. */
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} teardown steps failed`);
  }
}
