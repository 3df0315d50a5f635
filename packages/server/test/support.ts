/** Small helpers for the server's unit tests (integration tests use @ess/testkit). */
export async function waitFor(probe: () => unknown, o: { timeoutMs?: number; message?: string } = {}): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 5_000);
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.message ?? 'a condition'}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
