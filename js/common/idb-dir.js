// The store's root where OPFS is missing: the part of the OPFS directory API the service
// worker and the agent use (getDirectoryHandle, getFileHandle, removeEntry, entries/keys/
// values, getFile, createWritable), kept in IndexedDB, so both use one store layout
// (docs/runtime.md) and one code path whatever holds it.
//
// Database `planktos`, version 1, two object stores keyed by path ("planktos-v1/p/<infohash>/3"):
// `entries` ({dir: true} or {size}) for listings, `bytes` (a file's Uint8Array). A file is
// written, both stores at once, in one transaction when its writable closes: whole or absent,
// as with OPFS; a full quota aborts the transaction with QuotaExceededError, as OPFS throws.

const DB = "planktos";
const ENTRIES = "entries";
const BYTES = "bytes";
let opened = null;

const fail = (path, name) => new DOMException(path, name);

/** Whether this browser has IndexedDB (where OPFS is missing, the store lives there). */
export const hasIndexedDb = () => typeof indexedDB !== "undefined";

/** The store's root: OPFS where the browser has it, else IndexedDB. */
export function storageRoot() {
  if (typeof navigator.storage?.getDirectory === "function") return navigator.storage.getDirectory();
  if (hasIndexedDb()) return Promise.resolve(new IdbDirectory("", ""));
  return Promise.reject(new Error("no store"));
}

/** Delete the IndexedDB store (the kill switch); nothing to do when there is none. */
export async function deleteIdbStore() {
  opened = null;
  if (hasIndexedDb()) await done(indexedDB.deleteDatabase(DB)).catch(() => {});
}

function db() {
  opened ??= done(
    (() => {
      const req = indexedDB.open(DB, 1);
      // Deleting the database (the kill switch, here or in another context) closes us.
      req.addEventListener("success", () => (req.result.onversionchange = () => req.result.close()));
      req.onupgradeneeded = () => {
        req.result.createObjectStore(ENTRIES);
        req.result.createObjectStore(BYTES);
      };
      return req;
    })(),
  );
  opened.catch(() => {
    opened = null;
  });
  return opened;
}

/** A request's result as a promise. */
function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Run `fn(entries, bytes)` in one transaction; resolves with its result once committed. */
async function transaction(mode, fn) {
  const t = (await db()).transaction([ENTRIES, BYTES], mode);
  return new Promise((resolve, reject) => {
    let result;
    t.oncomplete = () => resolve(result);
    // A full quota fails the write request (QuotaExceededError), then aborts the transaction.
    t.onerror = (event) => reject(event.target.error);
    t.onabort = () => reject(t.error);
    Promise.resolve(fn(t.objectStore(ENTRIES), t.objectStore(BYTES))).then(
      (value) => {
        result = value;
      },
      (err) => {
        try {
          t.abort();
        } catch {
          // already finished
        }
        reject(err);
      },
    );
  });
}

const below = (path) => (path ? IDBKeyRange.bound(`${path}/`, `${path}/\uffff`) : null);

class IdbDirectory {
  constructor(path, name) {
    this.path = path;
    this.name = name;
    this.kind = "directory";
  }

  child(name) {
    if (!name || name.includes("/")) throw new TypeError(name);
    return this.path ? `${this.path}/${name}` : name;
  }

  async getDirectoryHandle(name, { create = false } = {}) {
    const path = this.child(name);
    await this.ensure(path, true, create, () => ({ dir: true }));
    return new IdbDirectory(path, name);
  }

  async getFileHandle(name, { create = false } = {}) {
    const path = this.child(name);
    await this.ensure(path, false, create, () => ({ size: 0 }), new Uint8Array());
    return new IdbFile(path, name);
  }

  async ensure(path, dir, create, make, bytes) {
    await transaction(create ? "readwrite" : "readonly", async (entries, data) => {
      const found = await done(entries.get(path));
      if (found) {
        if (Boolean(found.dir) !== dir) throw fail(path, "TypeMismatchError");
        return;
      }
      if (!create) throw fail(path, "NotFoundError");
      entries.put(make(), path);
      if (bytes) data.put(bytes, path);
    });
  }

  async removeEntry(name, { recursive = false } = {}) {
    const path = this.child(name);
    await transaction("readwrite", async (entries, data) => {
      const found = await done(entries.get(path));
      if (!found) throw fail(path, "NotFoundError");
      if (found.dir) {
        if (!recursive && (await done(entries.count(below(path))))) {
          throw fail(path, "InvalidModificationError");
        }
        entries.delete(below(path));
        data.delete(below(path));
      }
      entries.delete(path);
      data.delete(path);
    });
  }

  /** [name, handle] of each child. */
  async *entries() {
    const prefix = this.path ? `${this.path}/` : "";
    const range = this.path ? below(this.path) : null;
    const [keys, values] = await transaction("readonly", (entries) =>
      Promise.all([done(entries.getAllKeys(range)), done(entries.getAll(range))]),
    );
    for (let i = 0; i < keys.length; i++) {
      const name = keys[i].slice(prefix.length);
      if (name.includes("/")) continue; // deeper down
      yield [name, values[i].dir ? new IdbDirectory(keys[i], name) : new IdbFile(keys[i], name)];
    }
  }

  async *keys() {
    for await (const e of this.entries()) yield e[0];
  }

  async *values() {
    for await (const e of this.entries()) yield e[1];
  }
}

class IdbFile {
  constructor(path, name) {
    this.path = path;
    this.name = name;
    this.kind = "file";
  }

  async getFile() {
    const bytes = await transaction("readonly", (_, data) => done(data.get(this.path)));
    if (!bytes) throw fail(this.path, "NotFoundError");
    return new File([bytes], this.name);
  }

  async createWritable() {
    const path = this.path;
    let parts = [];
    return {
      // Bytes (a typed array or an ArrayBuffer), as the store writes them; copied.
      async write(data) {
        parts.push(ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() : new Uint8Array(data.slice(0)));
      },
      async close() {
        const size = parts.reduce((n, p) => n + p.byteLength, 0);
        const bytes = new Uint8Array(size);
        let at = 0;
        for (const p of parts) {
          bytes.set(p, at);
          at += p.byteLength;
        }
        parts = [];
        await transaction("readwrite", (entries, data) => {
          entries.put({ size }, path);
          data.put(bytes, path);
        });
      },
      async abort() {
        parts = [];
      },
    };
  }
}
