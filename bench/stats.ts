// Summaries of repeated measurements (median, min, max) and the small timing helpers the bench uses.
// Every figure is a median of several runs; ratios are taken between figures of the same run.

export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) throw new Error('summarize: no runs');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, runs: [...xs] };
}

/** Ratio of two medians (NaN-safe: 0 when the denominator is 0). */
export function ratio(a: Summary, b: Summary): number {
  return b.median === 0 ? 0 : a.median / b.median;
}

export function now(): number {
  return performance.now();
}

/** Events per second. */
export function rate(events: number, ms: number): number {
  return ms > 0 ? (events * 1000) / ms : 0;
}

/** Runs `fn` `runs` times, round-robin with the others of the same group, so drift hits all alike. */
export async function interleaved<K extends string>(runs: number, fns: Record<K, () => Promise<number> | number>): Promise<Record<K, Summary>> {
  const out = {} as Record<K, number[]>;
  const keys = Object.keys(fns) as K[];
  for (const k of keys) out[k] = [];
  for (let r = 0; r < runs; r++) for (const k of keys) out[k].push(await fns[k]());
  const res = {} as Record<K, Summary>;
  for (const k of keys) res[k] = summarize(out[k]);
  return res;
}

/** 1234567 → "1.23 M", 12345 → "12.3 k". */
export function si(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(1)} k`;
  return x.toFixed(a < 10 ? 2 : 0);
}

export function mib(bytes: number): number {
  return bytes / 2 ** 20;
}
