// Device-side DMA through the IOMMU (ours, not the kernel's): each granule page of the access is
// translated through the domain's IOTLB, then its IO page table, and either moves bytes or faults
// as the hardware would. The IOTLB is filled as the device uses translations, so after a lazy
// unmap a page the device touched before stays reachable until the next full flush.
// Simplification: an access moves the pages before a faulting page and stops there (earlier
// transaction layer packets completed); a faulting read returns no data.

import type { Fault } from '../events.ts';
import type { Kernel } from '../kernel.ts';
import type { Device } from '../platform/device.ts';
import { hex016 } from '../util/hex.ts';
import { IOMMU_READ, IOMMU_WRITE } from './io-pgtable.ts';
import { IOMMU_FAULT_READ, IOMMU_FAULT_WRITE, report_iommu_fault, type IommuDomain } from './iommu.ts';

/** Does [start, end) lie inside the union of a live mapping's byte ranges owned by `dev`? */
function ownedBy(dom: IommuDomain, owner: number, dev: Device, start: bigint, end: bigint): boolean {
  const m = dom.live.get(owner);
  if (!m || m.dev !== dev.name) return false;
  const rs = m.ranges;
  if (rs.length === 1) return rs[0]!.start <= start && rs[0]!.end >= end; // the usual case: one range
  let pos = start;
  for (const r of [...rs].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    if (r.start <= pos && r.end > pos) pos = r.end;
    if (pos >= end) return true;
  }
  return false;
}

/** Device-side access through the IOMMU (IOTLB, then IO page table). */
/** A write carries `data`, or else `fill` (default 0) in every byte. */
export function iommu_dev_access(k: Kernel, dev: Device, addr: bigint, size: number, write: boolean, data: Uint8Array | undefined, fill?: number): void {
  const dom = k.iommu.domainOf(dev);
  const need = write ? IOMMU_WRITE : IOMMU_READ;
  const g = dom.granule;
  const payload = write ? data : undefined;
  const fillByte = (fill ?? 0) & 0xff;
  const chunks: Uint8Array[] = [];
  let fault: Fault = 'none';
  let stalePages = 0;
  let staleAt = 0n;
  let outsideAt: bigint | null = null;
  let outsideOwner: string | undefined;
  k.out.path = 'iommu';

  let done = 0;
  while (done < size) {
    const a = addr + BigInt(done);
    const pfn = dom.pfn(a);
    const off = Number(a & dom.gmask);
    const n = Math.min(size - done, g - off);
    const pte = dom.pgtable.lookup(pfn);
    let tr = dom.iotlb.lookup(pfn);
    let stale = false;
    if (tr) {
      stale = !pte || pte.phys !== tr.phys;
    } else if (pte) {
      tr = pte;
      if (pte.prot & need) dom.iotlb.fill(pfn, pte);
    }
    if (!tr) {
      report_iommu_fault(k, dev, a, write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ);
      fault = 'unmapped';
      break;
    }
    if (!(tr.prot & need)) {
      report_iommu_fault(k, dev, a, write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ);
      fault = 'permission';
      break;
    }
    const phys = tr.phys + BigInt(off);
    if (payload) k.mem.write(phys, payload.subarray(done, done + n));
    else if (write) k.mem.fill(phys, n, fillByte);
    else chunks.push(k.mem.read(phys, n));
    if (stale) {
      if (stalePages++ === 0) staleAt = a;
    } else if (outsideAt === null && !ownedBy(dom, pte!.owner, dev, a, a + BigInt(n))) {
      outsideAt = a;
      outsideOwner = dom.live.get(pte!.owner)?.dev;
    }
    done += n;
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
    if (chunks.length === 1 && chunks[0]!.length === size) {
      k.out.data = chunks[0]!; // one page: the read already is the whole buffer
      return;
    }
    const out = new Uint8Array(size);
    let p = 0;
    for (const c of chunks) {
      out.set(c, p);
      p += c.length;
    }
    k.out.data = out;
  }
}

