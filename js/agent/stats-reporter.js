// When a visitor reports (js/agent/stats-report.js says what): at most once per interval while
// the page lives, and when it is hidden or left. Only the profile's agent leader reports, so
// tabs never double-count. Node-testable: the browser parts (beacon, storage, the SW) come in
// as functions (js/agent/stats-beacon.js wires the real ones).
//
// The service worker's counters are the profile's, kept across workers; what was last
// reported of them lives in `storage` (localStorage), so the next leader tab goes on from
// there. The agent's counters are this page's; their baseline lives in memory.

import { agentTotals, delta, hasNews, randomId, reportBody, reportOf, swTotals } from "./stats-report.js";

export class Reporter {
  /**
   * @param {object} o
   * @param {object} o.counters  the agent's live counters
   * @param {() => Promise<object|null>} o.askSw  the SW's counters, or null
   * @param {(body: string) => boolean} o.send  queue a beacon; false when it was not queued
   * @param {{get(): object|null, set(state: object): void}} o.storage  {id, sw} across tabs
   */
  constructor({ counters, askSw, send, storage }) {
    this.counters = counters;
    this.askSw = askSw;
    this.send = send;
    this.storage = storage;
    this.agentSent = agentTotals({});
    this.swLatest = null; // the SW's totals when last asked
    this.sent = 0; // beacons sent
  }

  /** Ask the SW for its counters now (a periodic report, or the page being hidden). */
  async refresh() {
    try {
      const sw = await this.askSw();
      if (sw) this.take(sw);
    } catch {
      // keep the last answer; what the SW counted meanwhile goes in a later report
    }
  }

  /**
   * The SW's counters, as it sends them 100 ms after they change (or as asked). Their bytes
   * go to `counters.swBytesKnown`: what a report from `pagehide` would go from.
   */
  take(sw) {
    const t = swTotals(sw);
    this.swLatest = t;
    this.counters.swBytesKnown = t.store + t.peers + t.origin;
  }

  /** Refresh, then report what is new. */
  async tick() {
    await this.refresh();
    return this.flush();
  }

  /** Report what is new, synchronously (it must work from `pagehide`); true when sent. */
  flush() {
    const state = this.storage.get() ?? {};
    const id = typeof state.id === "string" && state.id.length >= 16 ? state.id : randomId();
    const agentNow = agentTotals(this.counters);
    const swNow = this.swLatest ?? state.sw ?? swTotals({});
    const report = reportOf(delta(swNow, state.sw), delta(agentNow, this.agentSent), this.counters.peersConnected);
    if (!hasNews(report)) {
      if (state.id !== id) this.storage.set({ ...state, id });
      return false;
    }
    if (!this.send(reportBody(id, report))) return false;
    this.agentSent = agentNow;
    this.storage.set({ id, sw: swNow });
    this.sent += 1;
    return true;
  }
}
