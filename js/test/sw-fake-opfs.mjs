// A small in-memory stand-in for the OPFS directory API the service worker's store uses, with
// an optional quota (bytes) past which writes fail with QuotaExceededError.
export class FakeRoot {
  constructor(quota = Infinity) {
    this.quota = quota;
    this.root = new FakeDir(this, "");
  }
  used() {
    return this.root.size();
  }
}

class FakeDir {
  constructor(fs, name) {
    this.fs = fs;
    this.name = name;
    this.kind = "directory";
    this.children = new Map();
  }
  size() {
    let n = 0;
    for (const c of this.children.values()) n += c.size();
    return n;
  }
  async getDirectoryHandle(name, { create = false } = {}) {
    return this.child(name, create, () => new FakeDir(this.fs, name), "directory");
  }
  async getFileHandle(name, { create = false } = {}) {
    return this.child(name, create, () => new FakeFile(this.fs, name), "file");
  }
  child(name, create, make, kind) {
    let c = this.children.get(name);
    if (!c) {
      if (!create) throw new DOMException(`${name} not found`, "NotFoundError");
      c = make();
      this.children.set(name, c);
    }
    if (c.kind !== kind) throw new DOMException(`${name} is not a ${kind}`, "TypeMismatchError");
    return c;
  }
  async removeEntry(name, { recursive = false } = {}) {
    const c = this.children.get(name);
    if (!c) throw new DOMException(`${name} not found`, "NotFoundError");
    if (c.kind === "directory" && c.children.size && !recursive) {
      throw new DOMException("not empty", "InvalidModificationError");
    }
    this.children.delete(name);
  }
  async *entries() {
    for (const [name, c] of [...this.children]) yield [name, c];
  }
  async *keys() {
    for (const name of [...this.children.keys()]) yield name;
  }
  async *values() {
    for (const c of [...this.children.values()]) yield c;
  }
}

class FakeFile {
  constructor(fs, name) {
    this.fs = fs;
    this.name = name;
    this.kind = "file";
    this.bytes = new Uint8Array();
  }
  size() {
    return this.bytes.byteLength;
  }
  async getFile() {
    const bytes = this.bytes;
    return { size: bytes.byteLength, arrayBuffer: async () => bytes.slice().buffer };
  }
  async createWritable() {
    const file = this;
    let pending = new Uint8Array();
    return {
      async write(data) {
        const add = new Uint8Array(data);
        if (file.fs.used() - file.size() + pending.byteLength + add.byteLength > file.fs.quota) {
          throw new DOMException("quota", "QuotaExceededError");
        }
        const next = new Uint8Array(pending.byteLength + add.byteLength);
        next.set(pending);
        next.set(add, pending.byteLength);
        pending = next;
      },
      async close() {
        file.bytes = pending;
      },
      async abort() {},
    };
  }
}
