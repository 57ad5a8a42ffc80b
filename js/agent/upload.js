// Applies the upload policy (policy.js) to the client, and again when the connection changes.

import { uploadPolicy } from "./policy.js";

/** Returns `{uploading()}`; call once, right after the client is created. */
export function enforceUploadPolicy(client, runtime) {
  const connection = navigator.connection;
  let policy = uploadPolicy(connection, runtime);

  const apply = () => {
    client.throttleUpload(policy.upload ? policy.bytesPerSecond : -1);
    if (!policy.upload) for (const t of client.torrents) for (const w of t.wires) w.choke();
  };

  // No upload means every peer stays choked: a throttle rate of 0 would stall our own requests
  // too (WebTorrent throttles all that a wire writes). WebTorrent unchokes a peer as soon as it
  // is interested, so the wire's unchoke is gated on the policy.
  client.on("torrent", (torrent) => {
    torrent.on("wire", (wire) => {
      if (wire.type === "webSeed") return;
      const unchoke = wire.unchoke.bind(wire);
      wire.unchoke = () => {
        if (policy.upload) unchoke();
      };
    });
  });

  apply();
  connection?.addEventListener?.("change", () => {
    policy = uploadPolicy(connection, runtime);
    apply();
  });
  return { uploading: () => policy.upload };
}
