// Device-side DMA through the IOMMU (ours, not the kernel's): each granule page of the access is
// translated through the domain's IOTLB, then its IO page table, and either moves bytes or faults
// as the hardware would. The IOTLB is filled as the device uses translations, so after a lazy
// unmap a page the device touched before stays reachable until the next full flush.
// Simplification: an access moves the pages before a faulting page and stops there (earlier
// transaction layer packets completed); a faulting read returns no data.

import type { Fault } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { exactStart } from '../dma/live.ts';
import { low32 } from '../util/exact.ts';
import { hex016 } from '../util/hex.ts';
import { IOMMU_READ, IOMMU_WRITE } from './io-pgtable.ts';
import { IOMMU_FAULT_READ, IOMMU_FAULT_WRITE, report_iommu_fault, type IommuDomain } from './iommu.ts';

/**
 * Does [start, end) lie inside the union of a live mapping's byte ranges owned by `dev`? The
 * bounds may be numbers (exact below 2^53; compared with the bigint ranges exactly).
 */
function ownedBy(dom: IommuDomain, owner: number, dev: Device, start: bigint | number, end: bigint | number): boolean {
  const live = dom.live;
  const s = live.slot(owner);
  if (s < 0 || live.devOf(s) !== dev.name) return false;
  // Numbers against the numeric copy when both are exact: a bigint compared with a number is a
  // runtime call in V8, and this runs for every page of every access.
  if (typeof start === 'number' && typeof end === 'number') {
    if (live.isSingle(s)) return live.startOf(s) <= start && live.endOf(s) >= end;
    const rn = live.rangesNOf(s);
    if (rn !== null) return coveredN(rn, start, end);
  }
  const rs = live.get(owner)!.ranges;
  // Usually one range holds the whole page (a single mapping, or one page-sized sg entry); only
  // when none does is the union walked, in address order.
  for (let i = 0; i < rs.length; i++) if (rs[i]!.start <= start && rs[i]!.end >= end) return true;
  if (rs.length === 1) return false;
  let pos = start;
  for (const r of [...rs].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    if (r.start <= pos && r.end > pos) pos = r.end;
    if (pos >= end) return true;
  }
  return false;
}

/** ownedBy on numbers: [start, end) inside the union of the flattened ranges (same answer as the bigint walk). */
function coveredN(rs: readonly number[], start: number, end: number): boolean {
  for (let i = 0; i < rs.length; i += 2) if (rs[i]! <= start && rs[i + 1]! >= end) return true;
  if (rs.length === 2) return false;
  const order: number[] = [];
  for (let i = 0; i < rs.length; i += 2) order.push(i);
  order.sort((a, b) => rs[a]! - rs[b]!);
  let pos = start;
  for (const i of order) {
    if (rs[i]! <= pos && rs[i + 1]! > pos) pos = rs[i + 1]!;
    if (pos >= end) return true;
  }
  return false;
}


/** Device-side access through the IOMMU (IOTLB, then IO page table). A write carries `data`, or else `fill` (default 0) in every byte. */
export function iommu_dev_access(k: Kernel, dev: Device, addr: bigint, size: number, write: boolean, data: Uint8Array | undefined, fill?: number): void {
  const dom = k.iommu.domainOf(dev);
  const need = write ? IOMMU_WRITE : IOMMU_READ;
  const g = dom.granule;
  const payload = write ? data : undefined;
  const fillByte = (fill ?? 0) & 0xff;
  let fault: Fault = 'none';
  let stalePages = 0;
  let staleAt = 0n;
  let outsideAt: bigint | null = null;
  let outsideOwner: string | undefined;
  k.out.path = 'iommu';

  // Pages are walked by IOVA pfn (consecutive; only the first has an offset). When the whole
  // access lies below 2^53 its addresses are also exact as numbers, which spares a BigInt per page
  // (NVMe transfers cross dozens of pages); a bigint address is made only for a report.
  const a0 = exactStart(addr, size); // the boundary of dma/live.ts and util/exact.ts
  const fast = a0 >= 0;
  // A scenario's granule is at most 1 GiB (schema-machine.ts): its offset lies in the low 32 bits.
  const off0 = g <= 0x4000_0000 ? low32(addr) & (g - 1) : Number(addr & dom.gmask);
  let pfn = dom.pfn(addr);
  // A read inside one page is read in one piece (a view of memory when Memory.aliasReads allows);
  // a longer one is gathered page by page into a buffer.
  const onePage = !write && size > 0 && off0 + size <= g;
  const out = write || onePage ? undefined : k.mem.readBuffer(size);
  let got: Uint8Array | undefined;
  let done = 0;
  while (done < size) {
    const off = done === 0 ? off0 : 0;
    const n = Math.min(size - done, g - off);
    // The translation: the IOTLB's cached entry if it has one (stale when the page table no longer
    // holds the same address), else the page table's, which is then cached if it allows the access.
    const pt = dom.pgtable.ptes;
    const inPt = pt.has(pfn);
    let tr = dom.iotlb.entries;
    let stale = false;
    if (tr.has(pfn)) {
      stale = !inPt || !pt.samePhys(pfn, tr);
    } else if (inPt) {
      if (pt.prot(pfn) & need) dom.iotlb.fill(pfn, pt);
      tr = pt;
    } else {
      report_iommu_fault(k, dev, addr + BigInt(done), write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ);
      fault = 'unmapped';
      break;
    }
    if (!(tr.prot(pfn) & need)) {
      report_iommu_fault(k, dev, addr + BigInt(done), write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ);
      fault = 'permission';
      break;
    }
    const pn = tr.physN(pfn);
    if (pn >= 0) {
      // The page's address is exact as a number (see PfnTable): no bigint for the copy.
      if (payload) k.mem.writeAt(pn + off, payload.subarray(done, done + n));
      else if (write) k.mem.fillAt(pn + off, n, fillByte);
      else if (onePage) got = k.mem.readAt(pn + off, n);
      else k.mem.readIntoAt(pn + off, out!, done, n);
    } else {
      const page = tr.phys(pfn)!;
      const phys = off === 0 ? page : page + BigInt(off);
      if (payload) k.mem.write(phys, payload.subarray(done, done + n));
      else if (write) k.mem.fill(phys, n, fillByte);
      else if (onePage) got = k.mem.read(phys, n);
      else k.mem.readInto(phys, out!, done, n);
    }
    if (stale) {
      if (stalePages++ === 0) staleAt = addr + BigInt(done);
    } else if (outsideAt === null) {
      const owner = pt.owner(pfn);
      const owned = fast ? ownedBy(dom, owner, dev, a0 + done, a0 + done + n) : ownedBy(dom, owner, dev, addr + BigInt(done), addr + BigInt(done + n));
      if (!owned) {
        outsideAt = addr + BigInt(done);
        const s = dom.live.slot(owner);
        outsideOwner = s < 0 ? undefined : dom.live.devOf(s);
      }
    }
    done += n;
    pfn++;
  }

  if (stalePages > 0) {
    k.finding('stale-iotlb', `device reached an unmapped IOVA through a stale IOTLB entry [domain=${dom.name}] [device=${dev.name}] [iova=${hex016(staleAt)}] [pages=${stalePages}] [${write ? 'write' : 'read'}]`);
    if (fault === 'none') fault = 'stale-iotlb';
  }
  if (outsideAt !== null) {
    const whose = outsideOwner && outsideOwner !== dev.name ? ` [mapped by=${outsideOwner}]` : '';
    k.finding('unmapped-access', `device accessed IOVA bytes outside its own live mappings [domain=${dom.name}] [device=${dev.name}] [iova=${hex016(outsideAt)}]${whose}`);
  }
  k.out.fault = fault;
  if (fault === 'unmapped' || fault === 'permission') {
    k.out.error = true;
  } else if (!write) {
    k.out.data = onePage ? got : out;
  }
}
