// A hedged read: the source chosen first, and a second one asked beside it once the first is
// late, so that a slow source costs at most that delay (DESIGN.md, invariant 1). Pure.

const LATE = Symbol("late");

/**
 * `primary`: a promise of a result or null (no result: take the second source). When it has
 * not settled within `after` ms (or, `after` a promise, when that resolves true: an event,
 * not a delay), `start()` ({promise, cancel}) asks the second source beside it. Resolves
 * {primary: result} when the primary's result comes first (the second source is cancelled),
 * or {secondary: promise | null}: take the second source's promise (null: it was not asked
 * yet), because the primary gave nothing or the second source answered first (the
 * primary is then cancelled with `cancelPrimary`). A second source that fails while the
 * primary is still going leaves the primary to finish.
 */
export async function hedge(primary, after, start, cancelPrimary = () => {}) {
  let timer;
  const late =
    typeof after === "number"
      ? new Promise((resolve) => {
          timer = setTimeout(() => resolve(LATE), after);
        })
      : after.then((go) => (go ? LATE : primary));
  const early = await Promise.race([primary, late]);
  clearTimeout(timer);
  if (early !== LATE) return early ? { primary: early } : { secondary: null };
  const second = start();
  second.promise.catch(() => {}); // the caller sees its failure when it takes it
  const outcome = await Promise.race([
    primary.then((value) => ({ value })),
    second.promise.then(
      () => ({ answered: true }),
      () => ({ failed: true }),
    ),
  ]);
  if (outcome.value) {
    second.cancel();
    return { primary: outcome.value };
  }
  if (outcome.answered) cancelPrimary();
  if (!outcome.failed) return { secondary: second.promise };
  const value = await primary;
  return value ? { primary: value } : { secondary: second.promise };
}
