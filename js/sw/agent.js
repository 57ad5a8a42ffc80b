// The service worker's side of the agent protocol (docs/runtime.md, "SW ↔ agent").
//
// A page's agent sends {type: "agent"} with a MessagePort; the latest port wins. On that port:
//   SW → agent  {type: "ping", id}                      agent → SW  {type: "pong", id}
//   SW → agent  {type: "read", id, infohash, torrent, webseed, index, start, end}
//   agent → SW  {type: "stream", id, stream} (transferred ReadableStream of exactly bytes
//               start..end, inclusive, of file `index` of the torrent) | {type: "error", id, reason}
// A port silent for a while is pinged before use and dropped if no pong comes within 500 ms;
// a port whose page is gone (`clientExists` says so: a tab navigated or closed) is dropped at
// once, so that browsing in one tab does not pay the ping's 500 ms on every page.
//
//   SW → agent  {type: "join", infohash, torrent}       (no answer: join the shard's swarm)
//   SW → agent  {type: "piece", infohash, torrent, index, bytes}  (no answer: a piece the
//               worker assembled from verified files and origin ranges; the agent stores it
//               if it matches the torrent's SHA-1, and seeds it)
//   SW → agent  {type: "stats", ...}                     (the worker's counters, 100 ms after
//               they change: the agent's stats report uses them from pagehide)
//   SW → agent  {type: "stored", infohash}               (no answer: the worker wrote pieces of
//               this shard to the store; the agent announces them to its peers)
//   agent → SW  {type: "peers", infohash, have}          (unasked, whenever it changes: the
//               pieces that the agent's connected peers hold, a bitfield as a Uint8Array,
//               piece 0 in the high bit of byte 0, as in BitTorrent)
//
// A read goes to the agent only when a connected peer holds its pieces (`holds`); the link
// never waits for an agent to come (docs/runtime.md, "Choosing a source"). A file the worker
// takes from the origin makes the agent join that shard's swarm (`join`), so that the next
// read of it can find peers. Browsing in one tab, each page runs its own agent (the previous
// one died with its page): install.js on a controlled page sends `{type: "summon"}` with a
// MessagePort and starts its agent after `load`, or at once when the worker posts
// `{type: "start"}` on that port, which it does when a read wants peers and no agent is
// there. A navigation answered with a page that loads install.js makes the link `replacing()`
// its port: what the leaving page's agent reported no longer counts, and what the worker
// tells the agent meanwhile waits until the port answers (an agent in another tab that stays).

export class AgentUnavailable extends Error {}
/** The reason of an AgentUnavailable for an agent that did not answer in time (late peers). */
export const SILENT = "silent";

/** Shards whose swarms a new agent is told to join: the ones the worker read last. */
const JOINS_KEPT = 16;
/** Pieces kept for the next agent (16 KiB each in a group shard). */
const PIECES_KEPT = 32;

export class AgentLink {
  constructor({ pingMs = 500, freshMs = 2000, now = Date.now, clientExists = async () => true } = {}) {
    this.pingMs = pingMs;
    this.freshMs = freshMs;
    this.now = now;
    this.clientExists = clientExists;
    this.clientId = null; // the page that registered the port, when known
    this.port = null;
    this.heard = 0; // when the current port last said anything
    this.seq = 0;
    this.pending = new Map(); // id -> {resolve, reject, port}
    this.pinging = null;
    this.summoners = []; // ports of pages that start their agent when asked (the newest last)
    this.wanted = false; // a read wanted peers while no agent was there
    this.haves = new Map(); // infohash -> bitfield (Uint8Array) of what the agent's peers hold
    this.settled = new Set(); // infohashes whose swarm the agent has met all it can (haves.js)
    this.watchers = new Set(); // callbacks run on every "peers" report
    this.joined = new Map(); // infohash -> join message, the latest last (told to a new agent)
    this.confirmed = true; // false from replacing() until the port answers again
    this.storing = new Set(); // infohashes of "stored" messages about to go
    this.pieces = []; // "piece" messages waiting for an agent
    this.held = new Map(); // join/piece/stored messages for an unconfirmed port, sent if it answers
  }

  /**
   * A piece for the agent to check and keep (`msg` as the "piece" message). The last
   * PIECES_KEPT go to every new agent too: a page's agent may die (a navigation) before it
   * kept them, and one that has a piece drops it at no cost.
   */
  piece(msg) {
    const message = { type: "piece", ...msg };
    this.pieces = [...this.pieces.slice(1 - PIECES_KEPT), message];
    this.tell(`piece:${msg.infohash}/${msg.index}`, message);
  }

  /** The worker wrote pieces of `infohash` to the store: tell the agent, once per 200 ms. */
  stored(infohash) {
    if (this.storing.has(infohash)) return;
    this.storing.add(infohash);
    setTimeout(() => {
      this.storing.delete(infohash);
      this.tell(`stored:${infohash}`, { type: "stored", infohash });
    }, 200);
  }

  /** A page offers to start its agent when asked; asked at once if a read wanted peers. */
  offer(port) {
    this.summoners = [...this.summoners.slice(-3), port];
    if (this.wanted) this.summon();
  }

  /** Ask the pages that offered to start their agent (each at most once). */
  summon() {
    for (const port of this.summoners) {
      try {
        port.postMessage({ type: "start" });
        port.close();
      } catch {
        // a page that went away
      }
    }
    // `wanted` stays until an agent registers: the ports may be of pages gone (a tab that
    // navigated), and the page that replaced them then starts its agent only after `load`,
    // which Firefox holds back while a video waits for the peers that agent would bring
    // (the worker's 10 s wait when the origin fails: test_mirror.py in Firefox).
    this.summoners = [];
  }

  /**
   * A page that starts its own agent may replace the current one: the browser can still list
   * the leaving page as a client for a few ms while it unloads. What the port's agent reported
   * counts again only once it answers a ping (an agent in another tab that stays), or a new
   * agent registers.
   */
  replacing() {
    this.heard = 0;
    this.confirmed = false;
    if (this.port) this.live().catch(() => {}); // answered before the page's files are asked for
    this.leaving = true; // until an agent registers: the port's page may be the one going
  }

  forget() {
    this.haves.clear();
    this.settled.clear();
    this.notify();
  }

  notify() {
    for (const watcher of [...this.watchers]) watcher();
  }

  /** Whether an agent is there to bring peers: a port that answered since the last navigation. */
  ready() {
    return Boolean(this.port && this.confirmed);
  }

  /** Whether a connected peer of the agent holds every piece first..last of `infohash`. */
  holds(infohash, first, last) {
    return this.heldThrough(infohash, first, last) === last;
  }

  /**
   * The last piece k ≤ `last` such that the agent's connected peers hold every piece
   * first..k of `infohash`; first - 1 when they do not hold `first`.
   */
  heldThrough(infohash, first, last) {
    const bits = this.ready() ? this.haves.get(infohash) : undefined;
    if (!bits) return first - 1;
    for (let i = first; i <= last; i++) {
      if (!(bits[i >> 3] & (0x80 >> (i & 7)))) return i - 1;
    }
    return last;
  }

  /**
   * Resolves true as soon as `holds(infohash, first, last)`, false after `ms`; with
   * `untilSettled`, false as soon as the agent has met every peer of the swarm it can expect
   * and none holds them (a prefetch: they would come only with a peer yet to arrive).
   */
  whenHolds(infohash, first, last, ms, untilSettled = false) {
    if (this.holds(infohash, first, last)) return Promise.resolve(true);
    const gaveUp = () => untilSettled && this.ready() && this.settled.has(infohash);
    if (ms <= 0 || gaveUp()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (held) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve(held);
      };
      const check = () => (this.holds(infohash, first, last) ? done(true) : gaveUp() && done(false));
      const timer = setTimeout(() => done(false), ms);
      this.watchers.add(check);
    });
  }

  /**
   * The agent should join this shard's swarm (`request`: an agent read request): told now
   * when an agent is there, else to the next one, which is asked to start.
   */
  join({ infohash, torrent }) {
    const msg = { type: "join", infohash, torrent };
    this.joined.delete(infohash);
    this.joined.set(infohash, msg);
    for (const key of this.joined.keys()) if (this.joined.size > JOINS_KEPT) this.joined.delete(key);
    // An agent answering since a navigation may be the page that is leaving (Firefox keeps
    // it answering for seconds): the new page is asked to start its own too, else a read that
    // waits for peers (the origin failed) would wait for a dead agent, and Firefox delays the
    // new page's `load`, after which it would start one anyway, until that read ends
    // (test_mirror.py). An agent in another tab that stays keeps leading (the Web Lock).
    if (this.tell(`join:${infohash}`, msg) && !this.leaving) return;
    this.wanted = true;
    this.summon();
    if (this.port) this.live().catch(() => {}); // an agent that stays confirms itself
  }

  /** What the agent's peers hold, for the stats message: infohash -> bitfield bytes. */
  holdings() {
    return this.port && this.confirmed ? Object.fromEntries([...this.haves].map(([k, bits]) => [k, [...bits]])) : {};
  }

  /**
   * Send `msg` to the agent: now when it is confirmed (true); while a navigation leaves it
   * unconfirmed (`replacing()`), when it answers, under `key` (a later message with the same
   * key replaces it). An agent in another tab that stays (the leader, with a tab of the same
   * profile navigating) is confirmed only once it answers a ping, and a busy page answers late:
   * the joins and pieces of the navigated page's first reads were lost meanwhile, its
   * shards never joined and its boundary pieces never kept.
   */
  tell(key, msg) {
    if (this.port && this.confirmed) {
      this.post(this.port, msg);
      return true;
    }
    if (this.port) this.held.set(key, msg);
    return false;
  }

  post(port, msg) {
    try {
      port.postMessage(msg);
    } catch {
      // a page that went away: the next read finds out
    }
  }

  /** Use this port from now on (a new leader tab, or a reloaded one). */
  register(port, clientId = null) {
    if (!port || port === this.port) return;
    this.port = port;
    this.clientId = clientId;
    this.heard = this.now();
    port.onmessage = (event) => this.receive(port, event.data); // setting it starts the port
    this.wanted = this.leaving = false;
    this.confirmed = true;
    this.held.clear(); // the joins and pieces kept go to it anyway, below
    this.forget();
    for (const msg of this.joined.values()) this.post(port, msg);
    for (const msg of this.pieces) this.post(port, msg);
  }

  receive(port, msg) {
    if (port === this.port) {
      this.heard = this.now();
      if (!this.confirmed) {
        this.confirmed = true;
        for (const held of this.held.values()) this.post(port, held);
        this.held.clear();
        this.notify();
      }
    }
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "peers") {
      if (port === this.port && typeof msg.infohash === "string" && msg.have instanceof Uint8Array) {
        this.haves.set(msg.infohash, msg.have);
        if (msg.settled === true) this.settled.add(msg.infohash);
        else this.settled.delete(msg.infohash);
        this.notify();
      }
      return;
    }
    const waiter = this.pending.get(msg.id);
    if (!waiter || waiter.port !== port) {
      if (msg.type === "stream") msg.stream?.cancel?.().catch(() => {}); // too late: nobody waits
      return;
    }
    this.pending.delete(msg.id);
    if (msg.type === "pong") waiter.resolve(true);
    else if (msg.type === "stream" && msg.stream?.getReader) waiter.resolve(msg.stream);
    else waiter.reject(new AgentUnavailable(msg.reason));
  }

  /** The live agent's port, or null: pings a port that has been silent for freshMs. */
  async live() {
    const port = this.port;
    if (!port) return null;
    if (this.clientId !== null && !(await this.clientExists(this.clientId).catch(() => true))) {
      if (this.port === port) this.drop(port);
      return null;
    }
    if (this.now() - this.heard < this.freshMs) return port;
    if (!this.pinging) {
      this.pinging = this.ask(port, { type: "ping" }, this.pingMs)
        .then(() => true, () => false)
        .finally(() => {
          this.pinging = null;
        });
    }
    if (await this.pinging) return port;
    if (this.port !== port) return this.live(); // a newer agent registered meanwhile
    this.drop(port);
    return null;
  }

  drop(port) {
    this.port = null;
    this.held.clear();
    this.forget();
    for (const [id, w] of this.pending) {
      if (w.port === port) {
        this.pending.delete(id);
        w.reject(new AgentUnavailable("gone"));
      }
    }
  }

  ask(port, msg, timeoutMs) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AgentUnavailable(SILENT));
      }, timeoutMs);
      const done = (f) => (v) => {
        clearTimeout(timer);
        f(v);
      };
      this.pending.set(id, { resolve: done(resolve), reject: done(reject), port });
      try {
        port.postMessage({ ...msg, id });
      } catch (err) {
        this.pending.delete(id);
        done(reject)(new AgentUnavailable(err));
      }
    });
  }

  /**
   * A stream of file bytes start..end (inclusive) from the agent; rejects within timeoutMs.
   * Never waits for an agent to come: without one it rejects at once.
   */
  async read(request, timeoutMs) {
    const started = this.now();
    const port = await this.live();
    if (!port) throw new AgentUnavailable("none");
    return this.ask(port, { type: "read", ...request }, Math.max(1, timeoutMs - (this.now() - started)));
  }
}
