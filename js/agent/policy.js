// Whether and how fast this visitor uploads (docs/runtime.md, "The agent"). Pure.

/** True when the visitor asked to save data or is on a cellular (metered) connection. */
export const isMetered = (connection) =>
  !!connection && (connection.saveData === true || connection.type === "cellular");

/**
 * The upload policy for a connection (`navigator.connection`, possibly undefined) and the
 * manifest's `runtime` settings: `{upload, bytesPerSecond}`; `bytesPerSecond` is -1 for no
 * limit, as WebTorrent's `throttleUpload` takes it. `upload_kbps` is in kilobits per second;
 * 0 means no upload at all.
 */
export function uploadPolicy(connection, runtime = {}) {
  if (isMetered(connection) && runtime?.upload_on_metered !== true) {
    return { upload: false, bytesPerSecond: -1 };
  }
  const kbps = runtime?.upload_kbps;
  if (typeof kbps !== "number" || !Number.isFinite(kbps) || kbps < 0) {
    return { upload: true, bytesPerSecond: -1 };
  }
  const bytesPerSecond = Math.round(kbps * 125);
  return bytesPerSecond > 0 ? { upload: true, bytesPerSecond } : { upload: false, bytesPerSecond: -1 };
}
