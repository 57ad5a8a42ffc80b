// Piece arithmetic of the agent's store (layout in docs/runtime.md). Pure.

/** The length of piece `index` in a torrent of `length` bytes cut in `pieceLength` pieces. */
export function pieceSize(index, pieceLength, length) {
  const count = Math.ceil(length / pieceLength);
  if (!Number.isInteger(index) || index < 0 || index >= count) return 0;
  return index === count - 1 ? length - pieceLength * (count - 1) : pieceLength;
}

/** The piece index a store file name stands for, or null (temporary or foreign names). */
export function pieceIndexOf(name) {
  return /^(0|[1-9][0-9]{0,9})$/.test(name) ? Number(name) : null;
}

/**
 * The bytes `[offset, offset + length)` of a piece of `size` bytes that an abstract-chunk-store
 * `get(index, {offset, length})` asks for: `{offset, length}`, or null when out of bounds.
 * Missing `offset` means 0, missing `length` means "to the end of the piece".
 */
export function sliceOf(opts, size) {
  const offset = opts?.offset ?? 0;
  const length = opts?.length ?? size - offset;
  if (!Number.isInteger(offset) || !Number.isInteger(length)) return null;
  if (offset < 0 || length < 0 || offset + length > size) return null;
  return { offset, length };
}

/** A BitTorrent bitfield (most significant bit first) with the given piece indexes set. */
export function bitfieldOf(indexes, count) {
  const bits = new Uint8Array(Math.ceil(count / 8));
  for (const i of indexes) {
    if (Number.isInteger(i) && i >= 0 && i < count) bits[i >> 3] |= 0x80 >> (i & 7);
  }
  return bits;
}
