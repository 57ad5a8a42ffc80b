// How fast each source has been lately, and what that says about the next read. Pure:
// importable in Node. The worker times its own origin fetches and the agent's streams (first
// bytes, then the whole body) and keeps a moving average of each; docs/runtime.md, "Choosing
// a source".

/** Weight of the newest sample in the moving averages. */
const ALPHA = 0.3;
/** Waiting for peers must be expected to save at least this much. */
export const MIN_GAIN_MS = 100;
/** The longest wait for peers while no peer has delivered anything to this worker yet: the
 * bound of "never worse than plain HTTP" (DESIGN.md, invariant 1). */
export const UNPROVEN_WAIT_MS = 300;
/** After a peer read failed (late, stalled, corrupt), peers are not waited for this long. */
export const COOLDOWN_MS = 5000;

const ewma = (old, sample) => (old === null ? sample : old + ALPHA * (sample - old));

/** First-byte time and throughput of one source. */
export class SourceMeter {
  constructor() {
    this.firstMs = null; // ms from asking to the first bytes
    this.bytesPerMs = null; // body bytes per ms after the first ones
    this.samples = 0;
  }

  /** A read of `bytes` took `firstMs` to its first bytes and `totalMs` in all. */
  record(bytes, firstMs, totalMs) {
    this.firstMs = ewma(this.firstMs, Math.max(0, firstMs));
    const bodyMs = Math.max(1, totalMs - firstMs);
    // Small bodies arrive in one burst and say little about throughput.
    if (bytes >= 16 * 1024) this.bytesPerMs = ewma(this.bytesPerMs, bytes / bodyMs);
    this.samples += 1;
  }

  /** Expected ms for a read of `bytes`, or null before any sample. */
  estimate(bytes) {
    if (this.firstMs === null) return null;
    return this.firstMs + (this.bytesPerMs ? bytes / this.bytesPerMs : 0);
  }
}

/** The origin's and the peers' meters, and the decisions they make. */
export class Meters {
  constructor({ now = Date.now } = {}) {
    this.now = now;
    this.origin = new SourceMeter();
    this.peers = new SourceMeter();
    this.peerFailedAt = -Infinity;
  }

  peerFailed() {
    this.peerFailedAt = this.now();
  }

  /** Whether a peer read failed within COOLDOWN_MS: take the origin without asking peers. */
  coolingDown() {
    return this.now() - this.peerFailedAt < COOLDOWN_MS;
  }

  /**
   * How long a read of `bytes` that no connected peer holds yet may wait for one (0: the
   * origin at once). Only when the origin is measurably slower than peers would be: half the
   * expected gain, at most `deadlineMs`, and at most UNPROVEN_WAIT_MS until peers have
   * delivered something to this worker.
   */
  peerWaitMs(bytes, deadlineMs) {
    return waitForPeersMs({
      originMs: this.origin.estimate(bytes),
      peerMs: this.peers.estimate(bytes),
      proven: this.peers.samples > 0,
      coolingDown: this.coolingDown(),
      deadlineMs,
    });
  }

  /**
   * When a small file's read from peers is late enough that the origin is asked too (the
   * first verified copy wins): UNPROVEN_WAIT_MS past the wait for a peer holding it and the
   * peers' expected time for `bytes`.
   */
  hedgeMs(bytes, deadlineMs) {
    return this.peerWaitMs(bytes, deadlineMs) + UNPROVEN_WAIT_MS + (this.peers.estimate(bytes) ?? 0);
  }

  /**
   * How long to wait for a peer's first bytes before going to the origin: a few times the
   * peers' usual first-byte time, at least UNPROVEN_WAIT_MS, at most `deadlineMs`.
   */
  peerFirstByteMs(deadlineMs) {
    const usual = this.peers.firstMs;
    const bound = usual === null ? UNPROVEN_WAIT_MS : Math.max(UNPROVEN_WAIT_MS, 4 * usual);
    return Math.max(1, Math.min(deadlineMs, bound));
  }
}

/** The decision of `Meters.peerWaitMs`. Pure. */
export function waitForPeersMs({ originMs, peerMs, proven, coolingDown, deadlineMs }) {
  if (originMs === null || coolingDown) return 0;
  const gain = originMs - (peerMs ?? 0);
  if (gain < MIN_GAIN_MS) return 0;
  const cap = proven ? deadlineMs : Math.min(deadlineMs, UNPROVEN_WAIT_MS);
  return Math.max(0, Math.min(cap, gain / 2));
}
