// Exact-size reads from a byte stream, with a stall timeout. Importable in Node.

export class StallError extends Error {}
export class ShortReadError extends Error {}

/** Reads a ReadableStream of Uint8Arrays in pieces of exactly the sizes asked for. */
export class ChunkReader {
  /**
   * `stallMs`: longest wait for any bytes (Infinity: none), `firstMs`: longest wait for the
   * first bytes (defaults to stallMs), `totalMs`: longest time for everything from now (a
   * source trickling a byte now and then never stalls).
   */
  constructor(stream, { stallMs = Infinity, firstMs = stallMs, totalMs = Infinity } = {}) {
    this.reader = stream.getReader();
    this.stallMs = stallMs;
    this.waitMs = firstMs;
    this.until = Date.now() + totalMs;
    this.buffered = [];
    this.size = 0;
    this.done = false;
    this.firstAt = null; // Date.now() when the first bytes came
  }

  /** The next `n` bytes; throws ShortReadError if the stream ends first, StallError on a stall. */
  async take(n) {
    while (this.size < n) {
      if (this.done) throw new ShortReadError("short");
      const { done, value } = await this.next();
      if (done) this.done = true;
      else if (value?.byteLength) {
        const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
        this.firstAt ??= Date.now();
        this.buffered.push(bytes);
        this.size += bytes.byteLength;
      }
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.buffered[0];
      const want = n - filled;
      if (head.byteLength <= want) {
        out.set(head, filled);
        filled += head.byteLength;
        this.buffered.shift();
      } else {
        out.set(head.subarray(0, want), filled);
        this.buffered[0] = head.subarray(want);
        filled += want;
      }
    }
    this.size -= n;
    return out;
  }

  next() {
    const wait = Math.max(0, Math.min(this.waitMs, this.until - Date.now()));
    this.waitMs = this.stallMs;
    const read = this.reader.read();
    if (!Number.isFinite(wait)) return read;
    let timer;
    const stall = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new StallError("stalled")), wait);
    });
    return Promise.race([read, stall]).finally(() => clearTimeout(timer));
  }

  /** Stop reading and release the source; never throws. */
  cancel() {
    this.done = true;
    this.buffered = [];
    this.reader.cancel().catch(() => {});
  }
}

/** The first `n` bytes of a stream, which is then released. */
export async function readExactly(stream, n, opts) {
  const reader = new ChunkReader(stream, opts);
  try {
    return await reader.take(n);
  } finally {
    reader.cancel();
  }
}
