// In-place array edits for hot paths: Array.prototype.splice allocates the array of removed
// elements on every call, and these run for every map and unmap. (Long sorted arrays, such as the
// IOVA tree's nodes, keep splice: its native move beats a JavaScript loop there.)

/** a.splice(i, 1) without its result array: removes a[i] (0 ≤ i < a.length), keeping order. */
export function removeAt<T>(a: T[], i: number): void {
  if (!(i >= 0 && i < a.length)) throw new RangeError(`removeAt: index ${i} outside an array of ${a.length}`);
  const n = a.length - 1;
  for (let j = i; j < n; j++) a[j] = a[j + 1]!;
  a.pop();
}
