// One OPFS write, shared by the service worker and the agent: whole or absent.
//
// createWritable() commits atomically on close(), but getFileHandle({create: true}) has
// already made an empty file by then. When the write fails (QuotaExceededError above all),
// that empty file is removed again, so a failed write never leaves an entry that looks
// stored. An empty entry can still survive a page killed mid-write: readers treat a
// zero-length piece as absent (no piece is empty).

/**
 * Write `bytes` to `name` in a directory handle; on failure leave no new entry behind. An
 * empty entry counts as none: it may be another writer's, just created, whose own failure
 * removes it before ours fails (the SW and the agent can write one piece at once).
 *
 * Whether the entry was there before is looked at only when the write fails: a failed
 * write leaves the previous bytes in place (the swap file is dropped), so an entry that is
 * empty after the failure is one that nobody completed. Looking first cost every write two
 * more round trips to the browser process (docs/runtime.md, "CPU").
 */
export async function writeWhole(directory, name, bytes) {
  let writable = null;
  try {
    const handle = await directory.getFileHandle(name, { create: true });
    writable = await handle.createWritable();
    await writable.write(bytes);
    await writable.close();
  } catch (err) {
    if (writable) await writable.abort().catch(() => {});
    const left = await directory
      .getFileHandle(name)
      .then((handle) => handle.getFile())
      .catch(() => null); // absent: nothing to remove
    if (left?.size === 0) await directory.removeEntry(name).catch(() => {});
    throw err;
  }
}
