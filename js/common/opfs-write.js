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
 */
export async function writeWhole(directory, name, bytes) {
  let existed = false;
  try {
    existed = (await (await directory.getFileHandle(name)).getFile()).size > 0;
  } catch {
    // absent
  }
  let writable = null;
  try {
    const handle = await directory.getFileHandle(name, { create: true });
    writable = await handle.createWritable();
    await writable.write(bytes);
    await writable.close();
  } catch (err) {
    if (writable) await writable.abort().catch(() => {});
    if (!existed) await directory.removeEntry(name).catch(() => {});
    throw err;
  }
}
