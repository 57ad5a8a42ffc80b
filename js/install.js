// Planktos install script: add <script src="<base>planktos/install.js" async></script> to
// pages (`planktos build --inject` does). Registers <base>planktos.sw.js for scope <base>
// (base: the directory above this script, so --base-url sub-paths work) after `load`, and
// loads the agent where it can run: after `load`, when the browser is idle, or at once when
// the service worker controlling the page asks for it (browsing in one tab, a file the store
// lacks waits for this page's agent: docs/runtime.md). Never throws, never logs: a browser
// without service workers, WebRTC, Web Locks or a store (OPFS or IndexedDB) gets the plain site.

(() => {
  try {
    const nav = navigator;
    if (!("serviceWorker" in nav)) return;
    const script = document.currentScript;
    const base = new URL("..", script && script.src ? script.src : location.href);
    const controller = nav.serviceWorker.controller;
    const canRunAgent = () =>
      typeof RTCPeerConnection === "function" &&
      !!(nav.locks && nav.locks.request) &&
      !!((nav.storage && nav.storage.getDirectory) || self.indexedDB);
    let started = false;
    const startAgent = () => {
      if (started || !canRunAgent()) return;
      started = true;
      // __PLANKTOS_AGENT__: the agent's content-hashed name (js/build.mjs), cached as immutable.
      import(new URL("planktos/" + __PLANKTOS_AGENT__, base).href).catch(() => {
        if (controller) controller.postMessage({ type: "no-agent" });
      });
    };
    if (controller) {
      if (canRunAgent()) {
        const channel = new MessageChannel();
        channel.port1.onmessage = (event) => {
          if (event.data && event.data.type === "start") startAgent();
          channel.port1.close();
        };
        controller.postMessage({ type: "summon" }, [channel.port2]);
      } else controller.postMessage({ type: "no-agent" }); // the worker need not wait for one
    }
    const whenIdle = (fn) =>
      typeof requestIdleCallback === "function" ? requestIdleCallback(fn, { timeout: 5000 }) : setTimeout(fn, 200);
    const onLoad = () => {
      nav.serviceWorker
        .register(new URL("planktos.sw.js", base).href, { scope: base.pathname })
        .then(() => whenIdle(startAgent))
        .catch(() => {});
    };
    if (document.readyState === "complete") onLoad();
    else addEventListener("load", onLoad, { once: true });
  } catch {
    // Never worse than no Planktos.
  }
})();
