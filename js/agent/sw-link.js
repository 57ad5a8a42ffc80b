// Registers this agent with the service worker: `{type: "agent"}` with a MessagePort, now
// and after every controller change (a new service worker version takes over).

/**
 * Calls `onMessage(data, port)` for every message the service worker sends; `onLink()` after
 * each registration. Returns `post(msg)`, which sends on the current port.
 */
export function linkToServiceWorker(onMessage, onLink = () => {}) {
  const container = navigator.serviceWorker;
  let port = null;
  const register = (worker) => {
    if (!worker) return;
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => onMessage(event.data, channel.port1);
    worker.postMessage({ type: "agent" }, [channel.port2]);
    port?.close();
    port = channel.port1;
    onLink();
  };
  container.addEventListener("controllerchange", () => register(container.controller));
  if (container.controller) register(container.controller);
  // A first visit's page is not controlled until the worker claims it; `ready` gives the
  // active worker as soon as there is one.
  else container.ready.then((reg) => port || register(container.controller ?? reg.active)).catch(() => {});
  return (msg) => {
    try {
      port?.postMessage(msg);
    } catch {
      // the worker went away; a new one gets a new port
    }
  };
}
