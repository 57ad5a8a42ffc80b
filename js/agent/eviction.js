// Which infohash directories to delete first when the store is full. Pure.

/**
 * Infohashes in the order they should be evicted: those not in `keep` (the current manifest's)
 * first, then least recently used first (`lastUse`: infohash → ms since the epoch; unknown is
 * oldest). `never` (the infohash being written) is left out.
 */
export function evictionOrder(infohashes, lastUse = {}, keep = new Set(), never = null) {
  const used = (ih) => (typeof lastUse[ih] === "number" ? lastUse[ih] : 0);
  return infohashes
    .filter((ih) => ih !== never)
    .sort((a, b) => Number(keep.has(a)) - Number(keep.has(b)) || used(a) - used(b) || (a < b ? -1 : 1));
}
