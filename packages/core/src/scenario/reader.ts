// A located reader over a parsed YAML document: every value is read from its node, so every
// error names file:line:col and the key path. Scalars are read as text (failsafe schema) and
// interpreted here, which keeps 64-bit integers exact and `6.10` from turning into 6.1.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { ScenarioError, type Loc } from './errors.ts';
import { parseDuration, parseInteger } from './values.ts';

/** Aliases expanded per document before the file is refused (stops "billion laughs" blow-ups). */
const ALIAS_BUDGET = 10_000;

export const sub = (path: string, key: string): string => (path ? `${path}.${key}` : key);
export const idx = (path: string, i: number): string => `${path}[${i}]`;

export interface Entry { key: string; keyNode: Node; value: Node | null }

/** The checked keys of one YAML map. */
export class MapView {
  constructor(
    readonly path: string,
    readonly loc: Loc,
    private readonly entries: Map<string, Entry>,
    private readonly r: Reader,
  ) {}

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The value node of `key` (aliases resolved); null when absent or empty. */
  get(key: string): Node | null {
    const e = this.entries.get(key);
    return e ? this.r.deref(e.value) : null;
  }

  keyLoc(key: string): Loc {
    const e = this.entries.get(key);
    return e ? this.r.loc(e.keyNode) : this.loc;
  }

  /** Location of the value (or of the key, when the value is empty). */
  valueLoc(key: string): Loc {
    const e = this.entries.get(key);
    if (!e) return this.loc;
    return e.value && e.value.range ? this.r.loc(e.value) : this.r.loc(e.keyNode);
  }

  path_(key: string): string {
    return sub(this.path, key);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Fails at the map when a required key is absent. */
  need(key: string): Node {
    const v = this.get(key);
    if (v === null || this.r.isNothing(v)) {
      if (this.has(key)) this.r.failAt(this.valueLoc(key), this.path_(key), 'a value is required');
      this.r.failAt(this.loc, this.path_(key), 'required key is missing');
    }
    return v;
  }
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

export class Reader {
  private aliasBudget = ALIAS_BUDGET;

  constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lc: LineCounter,
  ) {}

  loc(node: Node | null | undefined): Loc {
    const off = node?.range?.[0] ?? 0;
    return this.lc.linePos(off);
  }

  failAt(loc: Loc, path: string, problem: string): never {
    throw ScenarioError.at(this.file, loc, path, problem);
  }

  fail(node: Node | null | undefined, path: string, problem: string): never {
    return this.failAt(this.loc(node), path, problem);
  }

  /** Resolves aliases (within a budget). */
  deref(node: Node | null | undefined): Node | null {
    let n: Node | null | undefined = node;
    let hops = 0;
    while (n && isAlias(n)) {
      if (--this.aliasBudget < 0 || ++hops > 64) this.fail(n, '', 'too many alias expansions (is an anchor used recursively?)');
      const target = n.resolve(this.doc);
      if (!target) this.fail(n, '', `unresolved alias *${n.source}`);
      n = target as Node;
    }
    return n ?? null;
  }

  /** An empty value: absent, `key:` with nothing after it, `~` or `null`. */
  isNothing(node: Node | null): boolean {
    if (node === null) return true;
    if (!isScalar(node) || node.type !== 'PLAIN') return false;
    const v = String(node.value);
    return v === '' || v === '~' || v === 'null' || v === 'Null' || v === 'NULL';
  }

  /** How a value looks, for "got ..." in messages. */
  describe(node: Node | null): string {
    if (this.isNothing(node)) return 'nothing';
    if (isMap(node)) return 'a map';
    if (isSeq(node)) return 'a list';
    if (isScalar(node)) {
      const v = String(node.value);
      const short = v.length > 40 ? v.slice(0, 37) + '...' : v;
      return node.type === 'PLAIN' ? short : JSON.stringify(short);
    }
    return 'an unsupported value';
  }

  expected(node: Node | null, path: string, what: string): never {
    return this.fail(node, path, `expected ${what}, got ${this.describe(node)}`);
  }

  /** A map whose keys are all in `allowed`; unknown keys are refused at the key's position. */
  map(node: Node | null, path: string, allowed: readonly string[], what = 'a map'): MapView {
    const n = this.deref(node);
    if (!isMap(n)) this.expected(n, path, what);
    const entries = new Map<string, Entry>();
    for (const pair of n.items) {
      const keyNode = this.deref(pair.key as Node | null);
      if (!isScalar(keyNode) || this.isNothing(keyNode)) this.fail(keyNode ?? n, path, `expected a plain key, got ${this.describe(keyNode)}`);
      const key = String(keyNode.value);
      if (!allowed.includes(key)) {
        const near = allowed.filter((a) => editDistance(a, key) <= Math.max(1, Math.floor(a.length / 3)));
        const hint = near.length ? `; did you mean "${near[0]}"?` : '';
        this.fail(keyNode, sub(path, key), `unknown key (allowed: ${allowed.join(', ')})${hint}`);
      }
      if (entries.has(key)) this.fail(keyNode, sub(path, key), 'duplicate key');
      entries.set(key, { key, keyNode, value: (pair.value as Node | null) ?? null });
    }
    return new MapView(path, this.loc(n), entries, this);
  }

  /** A list's items with their paths; a single non-list value is refused. */
  seq(node: Node | null, path: string, what = 'a list'): { node: Node | null; path: string }[] {
    const n = this.deref(node);
    if (!isSeq(n)) this.expected(n, path, what);
    return n.items.map((it, i) => ({ node: this.deref(it as Node | null), path: idx(path, i) }));
  }

  /** The text of a scalar (quoted or plain). */
  text(node: Node | null, path: string, what = 'a string'): string {
    const n = this.deref(node);
    if (!isScalar(n) || this.isNothing(n)) this.expected(n, path, what);
    return String(n.value);
  }

  str(node: Node | null, path: string, what = 'a string'): string {
    return this.text(node, path, what);
  }

  bool(node: Node | null, path: string): boolean {
    const n = this.deref(node);
    if (isScalar(n) && n.type === 'PLAIN') {
      const v = String(n.value);
      if (v === 'true' || v === 'True' || v === 'TRUE') return true;
      if (v === 'false' || v === 'False' || v === 'FALSE') return false;
    }
    return this.expected(n, path, 'true or false');
  }

  /** An exact integer in [min, max]; `range` names the range in the message. */
  big(node: Node | null, path: string, min: bigint, max: bigint, range?: string, signed = false): bigint {
    const n = this.deref(node);
    const want = range ?? `an integer in ${fmtRange(min, max)}`;
    if (!isScalar(n) || this.isNothing(n)) this.expected(n, path, want);
    const p = parseInteger(String(n.value), { signed });
    // A unit problem ("4KB") says more than the range does.
    if (!p.ok) this.fail(n, path, `expected ${p.problem.includes('unit') ? p.problem : want}, got ${this.describe(n)}`);
    if (p.value < min || p.value > max) this.expected(n, path, want);
    return p.value;
  }

  /** An integer that fits a JS number exactly. */
  int(node: Node | null, path: string, min: number, max: number, range?: string, signed = false): number {
    return Number(this.big(node, path, BigInt(min), BigInt(max), range, signed));
  }

  duration(node: Node | null, path: string): number {
    const n = this.deref(node);
    if (!isScalar(n) || this.isNothing(n)) this.expected(n, path, 'a duration such as 10ms');
    const p = parseDuration(String(n.value));
    if (!p.ok) this.expected(n, path, p.problem);
    return p.value;
  }

  oneOf<T extends string>(node: Node | null, path: string, values: readonly T[]): T {
    const n = this.deref(node);
    if (isScalar(n) && !this.isNothing(n) && (values as readonly string[]).includes(String(n.value))) return String(n.value) as T;
    return this.expected(n, path, `one of ${values.join(', ')}`);
  }
}

function fmtRange(min: bigint, max: bigint): string {
  const f = (x: bigint): string => (x >= 1n << 32n ? '0x' + x.toString(16) : x.toString());
  return `${f(min)}..${f(max)}`;
}
