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
// Browsing in one tab, each page runs its own agent (the previous one died with its page).
// install.js on a controlled page sends `{type: "summon"}` with a MessagePort and starts its
// agent after `load`, or at once when the worker posts `{type: "start"}` on that port: a read
// that finds no agent asks every page that offered (a page whose files are all in the store
// never pays for starting WebTorrent while it loads). A navigation answered with a page that
// loads install.js makes the link `expect()` a port: a read finding none waits for one within
// its own deadline; `{type: "no-agent"}` from a page (install.js where no agent can run, or an
// agent that will not lead) ends the wait.

export class AgentUnavailable extends Error {}

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
    this.expectUntil = 0; // a page that starts an agent is loading until then
    this.arrivals = new Set(); // resolvers of reads waiting for a port
    this.summoners = []; // ports of pages that start their agent when asked (the newest last)
  }

  /** A page offers to start its agent when asked; asked at once if a read is waiting. */
  offer(port) {
    this.summoners = [...this.summoners.slice(-3), port];
    if (this.arrivals.size) this.summon();
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
    this.summoners = [];
  }

  /**
   * A page that will start an agent is on its way: reads wait up to `ms` for its port. The
   * current port may be the page it replaces, which the browser can still list as a client
   * for a few ms while it unloads: the next read pings it first.
   */
  expect(ms) {
    this.expectUntil = Math.max(this.expectUntil, this.now() + ms);
    this.heard = 0;
  }

  /** No agent is coming (the page said so): waiting reads go on at once. */
  noAgent() {
    this.expectUntil = 0;
    this.arrived();
  }

  arrived() {
    for (const resolve of this.arrivals) resolve();
    this.arrivals.clear();
  }

  /** Resolves when a port registers, or after `ms`. */
  arrival(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.arrivals.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.arrivals.add(done);
    });
  }

  /** Use this port from now on (a new leader tab, or a reloaded one). */
  register(port, clientId = null) {
    if (!port || port === this.port) return;
    this.port = port;
    this.clientId = clientId;
    this.heard = this.now();
    port.onmessage = (event) => this.receive(port, event.data); // setting it starts the port
    this.expectUntil = 0;
    this.arrived();
  }

  receive(port, msg) {
    if (port === this.port) this.heard = this.now();
    if (!msg || typeof msg !== "object") return;
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
        reject(new AgentUnavailable("silent"));
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

  /** A stream of file bytes start..end (inclusive) from the agent; rejects within timeoutMs. */
  async read(request, timeoutMs) {
    const started = this.now();
    const left = () => timeoutMs - (this.now() - started);
    let port = await this.live();
    if (!port) this.summon();
    if (!port && this.expectUntil > this.now() && left() > 0) {
      await this.arrival(Math.min(left(), this.expectUntil - this.now()));
      port = await this.live();
    }
    if (!port) throw new AgentUnavailable("none");
    return this.ask(port, { type: "read", ...request }, Math.max(1, left()));
  }
}
