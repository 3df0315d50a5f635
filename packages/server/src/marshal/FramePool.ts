/**
 * Reused chunk frames. The node sends one frame of up to `maxChunk` payload bytes per chunk; a
 * fresh 1 MiB buffer for each is fresh memory (page faults while the chunk is copied into it) and
 * external memory that drives garbage collection — the largest items of the node's CPU profile
 * after the sends themselves (BENCHMARKS.md, "Where the time goes"). Frames taken here go back
 * once the transport has handed their bytes to uWS, which writes them or copies what it cannot
 * write at once, and never keeps a reference.
 */

export interface FramePoolStats {
  /** Frames served from a buffer that had been used before. */
  reused: number;
  /** Slot buffers allocated (the pool was empty). */
  allocated: number;
  /** Frames too small to be worth a slot, allocated on their own. */
  unpooled: number;
}

export class FramePool {
  readonly stats: FramePoolStats = { reused: 0, allocated: 0, unpooled: 0 };
  private readonly free: ArrayBuffer[] = [];
  /** Slots handed out and not yet given back: a slot is given back at most once per take. */
  private readonly lent = new WeakSet<ArrayBuffer>();

  constructor(
    /** Bytes of one slot: the largest frame the node sends. */
    readonly slotBytes: number,
    /** Free slots kept; more given back are left to the garbage collector. */
    readonly maxFree: number,
    /** Frames below this size are allocated on their own (a 1 KiB frame need not hold a 1 MiB slot). */
    readonly minPooled = Math.floor(slotBytes / 4),
  ) {
    if (!(slotBytes > 0) || !(maxFree >= 0)) throw new RangeError(`bad frame pool: ${slotBytes}-byte slots, ${maxFree} kept`);
  }

  /** A buffer of exactly `size` bytes (uninitialised). */
  take(size: number): Buffer {
    if (size > this.slotBytes || size < this.minPooled) {
      this.stats.unpooled++;
      return Buffer.allocUnsafe(size);
    }
    let slot = this.free.pop();
    if (slot) this.stats.reused++;
    else {
      // Uninitialised memory, as Buffer.allocUnsafe would give: every frame is written in full before it is sent.
      slot = Buffer.allocUnsafeSlow(this.slotBytes).buffer as ArrayBuffer;
      this.stats.allocated++;
    }
    this.lent.add(slot);
    return Buffer.from(slot, 0, size);
  }

  /** A frame whose bytes are no longer needed. Frames not from this pool, or given twice, are ignored. */
  give(frame: Uint8Array): void {
    const slot = frame.buffer;
    if (!(slot instanceof ArrayBuffer) || !this.lent.has(slot)) return;
    this.lent.delete(slot);
    if (this.free.length < this.maxFree) this.free.push(slot);
  }

  /** Free slots held now. */
  get idle(): number {
    return this.free.length;
  }
}
