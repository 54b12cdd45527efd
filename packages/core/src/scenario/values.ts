// Scalar grammars of the scenario format: exact integers (decimal, hex, binary-unit sizes),
// durations, hex byte strings and reference expressions. Pure string → value-or-problem functions.

/** Either a value or the reason the text is not one (phrased to follow "expected ..., got ..."). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(problem: string): Parsed<T> => ({ ok: false, problem });

const UNITS: Record<string, bigint> = { B: 1n, KiB: 1n << 10n, MiB: 1n << 20n, GiB: 1n << 30n, TiB: 1n << 40n };
const SI_LOOKALIKES = /^(k|K|M|G|T)(B|b|i|iB)?$/;

/** Decimal or 0x-hex digits, `_` allowed between digits. Returns undefined if not a number. */
function digits(s: string): bigint | undefined {
  if (/^0[xX][0-9a-fA-F](_?[0-9a-fA-F])*$/.test(s)) return BigInt('0x' + s.slice(2).replaceAll('_', ''));
  if (/^[0-9](_?[0-9])*$/.test(s)) return BigInt(s.replaceAll('_', ''));
  return undefined;
}

/**
 * An exact integer: `4096`, `0x3f00001000`, `-5` (when signed), or a size with a binary unit
 * (`4KiB`, `2 MiB`, `0x10 MiB`). Never goes through a float, so 64-bit addresses stay exact.
 */
export function parseInteger(text: string, opts: { signed?: boolean } = {}): Parsed<bigint> {
  let s = text.trim();
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s.startsWith('-');
    if (neg && !opts.signed) return bad('a non-negative integer');
    s = s.slice(1);
  }
  const m = /^(0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)\s*([A-Za-z]+)?$/.exec(s);
  if (!m) return bad('an integer (decimal, 0x-hex, or a size such as 4KiB)');
  const n = digits(m[1]!);
  if (n === undefined) return bad('an integer (decimal, 0x-hex, or a size such as 4KiB)');
  const unit = m[2];
  if (unit === undefined) return ok(neg ? -n : n);
  const mul = UNITS[unit];
  if (mul === undefined) {
    if (SI_LOOKALIKES.test(unit)) return bad(`a size with a binary unit (B, KiB, MiB, GiB, TiB), not "${unit}"`);
    return bad(`an integer or a size with a binary unit (B, KiB, MiB, GiB, TiB), not unit "${unit}"`);
  }
  return ok(neg ? -n * mul : n * mul);
}

const DURATION_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };

/** A duration with a unit (`10ms`, `1s`, `500us`, `250ns`) → nanoseconds (a safe integer). */
export function parseDuration(text: string): Parsed<number> {
  const m = /^([0-9][0-9_]*)\s*(ns|us|µs|ms|s)$/.exec(text.trim());
  if (!m) return bad('a duration with a unit: ns, us, ms or s (e.g. 10ms)');
  const n = BigInt(m[1]!.replaceAll('_', '')) * BigInt(DURATION_NS[m[2]!]!);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return bad('a duration below 2^53 ns (about 104 days)');
  return ok(Number(n));
}

/** Bytes as hex (`"aabbcc"`; spaces, `:` and a leading 0x are ignored). */
export function parseHexBytes(text: string): Parsed<Uint8Array> {
  let s = text.replace(/[\s:]/g, '');
  if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
  if (!/^[0-9a-fA-F]*$/.test(s)) return bad('hex bytes (e.g. "deadbeef")');
  if (s.length % 2 !== 0) return bad('hex bytes: an even number of hex digits');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return ok(out);
}

export function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Binding names: letters, digits, `_`, and `-` followed by a letter (so `$buf-4` is arithmetic). */
export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)*$/;

/** The part of a binding a reference reads. */
export type RefPart = { kind: 'addr' } | { kind: 'phys' } | { kind: 'index'; index: number };

export interface RefExpr { name: string; part: RefPart; offset: bigint }

/**
 * A reference: `$name`, `$name.phys`, `$name[i]`, each optionally followed by `+N` / `-N` terms
 * (`$name+0x40`, `$name.phys-4`, `$sg[1]+2KiB`).
 */
export function parseRef(text: string): Parsed<RefExpr> {
  const m = /^\$([A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)*)(\.phys|\[\s*([0-9]+)\s*\])?((?:\s*[+-]\s*[^+-\s][^+-]*)*)$/.exec(text.trim());
  if (!m) return bad('a reference such as $buf, $buf.phys, $buf+0x40, $buf-4 or $sg[0]');
  const name = m[1]!;
  let part: RefPart = { kind: 'addr' };
  if (m[2] === '.phys') part = { kind: 'phys' };
  else if (m[3] !== undefined) {
    const i = Number(m[3]);
    if (!Number.isSafeInteger(i)) return bad('a reference index below 2^53');
    part = { kind: 'index', index: i };
  }
  let offset = 0n;
  const terms = m[4] ?? '';
  const re = /\s*([+-])\s*([^+-]+)/g;
  let t: RegExpExecArray | null;
  while ((t = re.exec(terms)) !== null) {
    const v = parseInteger(t[2]!.trim());
    if (!v.ok) return bad(`a reference offset: ${v.problem}, not "${t[2]!.trim()}"`);
    offset += t[1] === '-' ? -v.value : v.value;
  }
  return ok({ name, part, offset });
}

export function refText(r: RefExpr): string {
  const part = r.part.kind === 'phys' ? '.phys' : r.part.kind === 'index' ? `[${r.part.index}]` : '';
  const off = r.offset === 0n ? '' : r.offset > 0n ? `+0x${r.offset.toString(16)}` : `-0x${(-r.offset).toString(16)}`;
  return `$${r.name}${part}${off}`;
}
