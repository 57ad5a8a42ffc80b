// Piece and offset arithmetic for a file inside a torrent. Pure: importable in Node.
//
// A torrent's pieces are `pieceLength` bytes (the last one shorter) over the concatenation of
// its files; a file sits at `offset` with `length` bytes. Files with `chunks` are alone in
// their shard, so chunk i is piece i.

/** The pieces holding torrent bytes [start, end] (inclusive): {first, last}. */
export function piecesCovering(start, end, pieceLength) {
  return { first: Math.floor(start / pieceLength), last: Math.floor(end / pieceLength) };
}

/** Torrent byte bounds of piece `index`: {start, end} with `end` exclusive. */
export function pieceBounds(index, pieceLength, totalLength) {
  const start = index * pieceLength;
  return { start, end: Math.min(start + pieceLength, totalLength) };
}

/** How many pieces a torrent of `totalLength` bytes has. */
export const pieceCount = (totalLength, pieceLength) => Math.ceil(totalLength / pieceLength);

/**
 * The piece-aligned range that covers file bytes [start, end] of a file alone in its torrent
 * (a file with `chunks`): {first, last, start, end}, `end` inclusive and clipped to the file.
 */
export function alignedRange(start, end, pieceLength, length) {
  const { first, last } = piecesCovering(start, end, pieceLength);
  return { first, last, start: first * pieceLength, end: Math.min((last + 1) * pieceLength, length) - 1 };
}

/** The pieces of a small file at `offset` with `length` > 0 bytes: {first, last}. */
export const filePieces = (offset, length, pieceLength) =>
  piecesCovering(offset, offset + length - 1, pieceLength);
