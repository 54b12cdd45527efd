// Strings as V8 keeps property names ("internalized": one copy per content). Strings decoded from
// a log or a message (msgpackr) are fresh copies: comparing one with a string literal, or looking
// it up in a Map whose key is another copy, compares characters (V8's StringEqual, a call per
// test; `switch (ev.op)` made one per case it tried), where two internalized strings compare by
// identity. Used on what the log decoder hands the model once per batch (op, device, path), and on
// the keys the model looks devices up by (BENCHMARKS.md, nineteenth round).

/** s's internalized copy (equal to s: only how V8 stores it differs). */
export function internalized(s: string): string {
  // No prototype, so that "__proto__" is a key like any other.
  const o = Object.create(null) as Record<string, 0>;
  o[s] = 0;
  return Object.keys(o)[0]!;
}
