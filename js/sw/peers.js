// Whether a read goes to peers, and the agent's stream when it does (docs/runtime.md,
// "Choosing a source"). Peers only when a connected peer of the agent holds the pieces, or
// comes to hold them within the wait the meters allow (the origin measurably slower); never
// waiting for an agent, a tracker or WebRTC to start.

import { agentRequest, piecesOfRange } from "./file.js";
import { AgentUnavailable, SILENT } from "./agent.js";
import { ChunkReader, StallError } from "./reader.js";

/**
 * {reader, asked} for bytes start..end of `file` from peers, or null: take the origin now.
 * `waitMs`: how long to wait for a peer that holds them (default: what the meters allow while
 * an agent is there and `ctx.navigate` is not set, or `slackMs` when longer and peers are not
 * cooling down; the deadline when the origin has just failed).
 * Null at once while peers cool down after a failure (COOLDOWN_MS), unless `waitMs` is given.
 * The reader fails when the first bytes are late (a few times the peers' usual first-byte
 * time), the stream stalls for the deadline, or it is not done within `totalMs`; the caller
 * then calls `peerFailed(ctx)`.
 */
export async function peerReader(ctx, file, start, end, waitMs = null, { totalMs = Infinity, slackMs = 0 } = {}) {
  const { agent, meters } = ctx;
  const request = agentRequest(file, start, end);
  const { infohash } = request;
  const { first, last } = piecesOfRange(file, start, end);
  if (!agent.holds(infohash, first, last)) {
    agent.join(request);
    // What the meters allow only with an agent there to bring peers, and never for a
    // navigation (DESIGN.md): a page whose agent was still to start waited up to
    // UNPROVEN_WAIT_MS for its HTML and its video's first piece behind a slow origin.
    const meterWait = ctx.navigate || !agent.ready() ? 0 : meters.peerWaitMs(end - start + 1, file.deadline);
    const wait = waitMs ?? Math.max(meterWait, meters.coolingDown() ? 0 : slackMs);
    // A prefetch stops waiting once the agent met the swarm's peers and none holds them: a
    // page's links that nobody read cost it the deadline each (docs benchmark: passes that
    // never reached the pages others held).
    if (!(await agent.whenHolds(infohash, first, last, wait, Boolean(ctx.peersOnly)))) return null;
  } else if (waitMs === null && meters.coolingDown()) {
    // A peer read failed lately: the origin at once, held or not (peerWaitMs is 0 then). A
    // silent peer holding everything cost every read, and a large file every piece, the bound.
    return null;
  }
  const asked = Date.now();
  // With the origin failed there is no faster source: the peers get as long for first bytes.
  const firstByteMs = waitMs ?? meters.peerFirstByteMs(file.deadline);
  try {
    const stream = await agent.read(request, firstByteMs);
    const firstMs = Math.max(1, firstByteMs - (Date.now() - asked));
    return { reader: new ChunkReader(stream, { stallMs: file.deadline, firstMs, totalMs }), asked };
  } catch (err) {
    if (late(err)) meters.peerFailed();
    return null;
  }
}

/**
 * Whether a failed peer read says the peers are slow (no stream or no bytes in time), the
 * reason to avoid them for a while (`peerFailed`). A peer or an agent that went away (a
 * visitor left, this page navigated) says nothing of the peers that remain: in the crowd
 * benchmark, counting those too halved what came from peers.
 */
export const late = (err) => err instanceof StallError || (err instanceof AgentUnavailable && err.message === SILENT);

/**
 * How long a read waits for peers once the origin failed: the deadline, and at least 10 s
 * (an agent may have to start with its page); without Planktos the page would fail at once.
 */
export const downWaitMs = (file) => Math.max(file.deadline, 10_000);

/** Tell `meter` how a read of `bytes` that started at `asked` went, once `reader` has them all. */
export function measured(meter, reader, bytes, asked) {
  const now = Date.now();
  meter.record(bytes, (reader.firstAt ?? now) - asked, now - asked);
}
