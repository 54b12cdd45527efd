// PfnTable (the IO page table's and the IOTLB's entries in typed arrays) answers every query as a
// plain Map<pfn, {phys, prot, owner}> would, for addresses exact as numbers and beyond 2^53, and
// folds the same state-hash words as the bigint form did.
import { describe, expect, test } from 'vitest';
import { Hasher } from '../util/hash.ts';
import { exactNum } from '../util/exact.ts';
import { Prng } from '../util/prng.ts';
import { PfnTable } from './pfn-table.ts';

interface Ref { phys: bigint; prot: number; owner: number }

function hashOf(t: PfnTable, words: boolean, owners: boolean): string {
  const h = new Hasher(words);
  t.hashEntries(h, owners);
  return h.digest();
}

function refHash(ref: Map<number, Ref>, words: boolean, owners: boolean): string {
  const h = new Hasher(words);
  for (const k of [...ref.keys()].sort((a, b) => a - b)) {
    const e = ref.get(k)!;
    h.num(k).big(e.phys).u32(e.prot);
    if (owners) h.num(e.owner);
  }
  return h.digest();
}

describe('PfnTable', () => {
  test.each([
    ['low pfns, exact addresses', 0x1000, 0x8000_0000n],
    ['pfns near 2^52, addresses across 2^53', 2 ** 52 - 5000, (1n << 53n) - 0x200_0000n],
    ['addresses near 2^64', 0xff000, (1n << 64n) - 0x400_0000n],
  ])('equals a Map under random set, delete, deleteRange and clear (%s)', (_where, pfnBase, physBase) => {
    const t = new PfnTable();
    const other = new PfnTable();
    const ref = new Map<number, Ref>();
    const rng = new Prng(11n);
    const pfn = (): number => pfnBase + rng.int(3000);
    for (let step = 0; step < 6000; step++) {
      const op = rng.int(100);
      if (op < 50) {
        const p = pfn();
        const phys = physBase + BigInt(rng.int(0x100_0000)) * 4096n;
        const prot = rng.int(64);
        const owner = rng.int(8) === 0 ? -1 : pfnBase + rng.int(3000);
        t.set(p, phys, exactNum(phys), prot, owner);
        ref.set(p, { phys, prot, owner });
        if (rng.int(2) === 0) other.copyFrom(p, t);
      } else if (op < 80) {
        const p = pfn();
        expect(t.delete(p)).toBe(ref.delete(p));
      } else if (op < 95) {
        const p = pfn();
        const n = rng.int(rng.int(4) === 0 ? 5000 : 40);
        t.deleteRange(p, n);
        for (let i = 0; i < n; i++) ref.delete(p + i);
      } else if (op < 96) {
        t.clear();
        ref.clear();
      } else {
        const p = pfn();
        const e = ref.get(p);
        expect(t.has(p)).toBe(e !== undefined);
        expect(t.phys(p)).toBe(e?.phys);
        expect(t.prot(p)).toBe(e?.prot ?? 0);
        expect(t.owner(p)).toBe(e?.owner ?? -1);
        const n = t.physN(p);
        expect(n).toBe(e === undefined ? -1 : exactNum(e.phys) >= 0 ? Number(e.phys) : -2);
        if (e && other.has(p)) expect(t.samePhys(p, other)).toBe(other.phys(p) === e.phys);
      }
      expect(t.size).toBe(ref.size);
    }
    expect(t.keys()).toEqual([...ref.keys()].sort((a, b) => a - b));
    for (const words of [false, true]) {
      for (const owners of [false, true]) expect(hashOf(t, words, owners)).toBe(refHash(ref, words, owners));
    }
  });
});
