// Planktos install script: add <script src="<base>planktos/install.js" async></script> to
// pages (`planktos build --inject` does). Registers <base>planktos.sw.js for scope <base>
// (base: the directory above this script, so --base-url sub-paths work) after `load`, and
// loads the agent where it can run: at once on a page the service worker already controls
// (browsing in one tab, the page's own files wait for this agent: docs/runtime.md), else
// after `load`, when the browser is idle. Never throws, never logs: a browser without service
// workers, WebRTC, Web Locks or OPFS gets the plain site.

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
      !!(nav.storage && nav.storage.getDirectory);
    const startAgent = () => {
      if (!canRunAgent()) return;
      import(new URL("planktos/agent.js", base).href).catch(() => {
        if (controller) controller.postMessage({ type: "no-agent" });
      });
    };
    if (controller) {
      if (canRunAgent()) startAgent();
      else controller.postMessage({ type: "no-agent" }); // the worker need not wait for one
    }
    const whenIdle = (fn) =>
      typeof requestIdleCallback === "function" ? requestIdleCallback(fn, { timeout: 5000 }) : setTimeout(fn, 200);
    const onLoad = () => {
      nav.serviceWorker
        .register(new URL("planktos.sw.js", base).href, { scope: base.pathname })
        .then(() => controller || whenIdle(startAgent))
        .catch(() => {});
    };
    if (document.readyState === "complete") onLoad();
    else addEventListener("load", onLoad, { once: true });
  } catch {
    // Never worse than no Planktos.
  }
})();
