/** Polling assertions: wait until a condition holds instead of sleeping a fixed time. */
export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** Said when the wait times out. */
  readonly message?: string;
}

/** Resolves with the first truthy value of `probe`; rejects after the timeout with the last error. */
export async function waitFor<T>(probe: () => T | Promise<T>, o: WaitOptions = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
      last = null;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${o.timeoutMs ?? 10_000} ms waiting for ${o.message ?? 'a condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 25));
  }
}
