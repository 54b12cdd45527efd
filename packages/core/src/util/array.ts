// In-place array edits for hot paths: Array.prototype.splice allocates the array of removed
// elements on every call, and these run for every map and unmap. Also the growth step of the
// model's typed-array tables, and a numeric sort of a Float64Array faster than the native one for
// the short arrays state marks sort.

/** a.splice(i, 1) without its result array: removes a[i] (0 ≤ i < a.length), keeping order. */
export function removeAt<T>(a: T[], i: number): void {
  if (!(i >= 0 && i < a.length)) throw new RangeError(`removeAt: index ${i} outside an array of ${a.length}`);
  const n = a.length - 1;
  for (let j = i; j < n; j++) a[j] = a[j + 1]!;
  a.pop();
}

/** A copy of `a` in an array twice its length (the rest zero): the model's typed-array tables grow by it. */
export function doubled(a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer>;
export function doubled(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer>;
export function doubled(a: Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer>): Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer> {
  const b = a instanceof Float64Array ? new Float64Array(a.length * 2) : new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/**
 * Sorts a Float64Array of numbers (no NaN; -0 counts as 0) in place, ascending, and returns it:
 * what `a.sort()` gives for the model's keys. A quicksort (median of three, the smaller side
 * first, so the stack stays logarithmic) with insertion sort below 16 elements: V8's TypedArray
 * sort took ~7 µs for 130 keys where this takes ~3, and a state mark or invariant check at 64
 * IOMMU domains sorts 64 such arrays (BENCHMARKS.md, fifteenth round).
 */
export function sortNumbers(a: Float64Array): Float64Array {
  quick(a, 0, a.length - 1);
  return a;
}

function quick(a: Float64Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    // The median of a[lo], a[mid], a[hi] as the pivot: sorted input stays O(n log n).
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const p = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < p) i++;
      while (a[j]! > p) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (j - lo < hi - i) {
      quick(a, lo, j);
      lo = i;
    } else {
      quick(a, i, hi);
      hi = j;
    }
  }
  for (let i = lo + 1; i <= hi; i++) {
    const x = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > x) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = x;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}
