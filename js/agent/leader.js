// One agent per browser profile: the tab holding the Web Lock `planktos-agent` runs it. The
// lock is held for the tab's lifetime; when the tab closes, the next waiting tab gets it.

export const LOCK = "planktos-agent";

/** Run `lead()` in this tab once it holds the lock (maybe never). */
export function whenLeader(lead) {
  navigator.locks
    .request(LOCK, async () => {
      await lead();
      return new Promise(() => {}); // hold until the page goes away
    })
    .catch(() => {});
}
