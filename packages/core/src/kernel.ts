// The kernel-side state every model function works on (`k`), and the emit helpers through which
// a call records what it printed and traced into the current event's outcome.

import type { MachineConfig, Profile } from './config.ts';
import { emptyOutcome, type FindingKind, type Outcome, type TraceRec } from './events.ts';
import { VirtualClock } from './platform/clock.ts';
import { Device } from './platform/device.ts';
import { Memory } from './platform/memory.ts';
import { SwiotlbMem } from './dma/swiotlb.ts';
import { DmaDebug } from './dma/debug.ts';
import { IommuState } from './iommu/dma-iommu.ts';
import { Prng } from './util/prng.ts';

/** Thrown for a kernel BUG()/BUG_ON(): the call crashes the (simulated) kernel. */
export class KernelBug extends Error {
  readonly code = 'KERNEL_BUG';
}

/** Thrown when a request cannot be modelled (bad device name, unknown domain, ...): bad input. */
export class ModelInputError extends Error {
  readonly code = 'MODEL_INPUT';
}

export class Kernel {
  readonly profile: Profile;
  readonly cfg: MachineConfig;
  readonly clock = new VirtualClock();
  readonly prng: Prng;
  /** Devices in configuration order (that order is also the hash order). */
  readonly deviceList: Device[];
  readonly devices = new Map<string, Device>();
  readonly mem: Memory;
  readonly swiotlb: SwiotlbMem;
  readonly iommu: IommuState;
  readonly debug: DmaDebug;
  /** Outcome of the event being applied. */
  out: Outcome = emptyOutcome(0);
  /** Sequence number of the event being applied (1-based; 0 before the first). */
  seq = 0;
  /** CPU the current call runs on. */
  cpu = 0;
  /** WARN_ON_ONCE / pr_*_once sites already hit, machine-wide. */
  readonly onceSites = new Set<string>();

  constructor(cfg: MachineConfig) {
    this.cfg = cfg;
    this.profile = cfg.profile;
    this.prng = new Prng(cfg.seed);
    this.deviceList = cfg.devices.map((d, i) => new Device(d, i, cfg.platform.iommu.forcedac));
    for (const d of this.deviceList) this.devices.set(d.name, d);
    this.mem = new Memory(cfg.platform);
    this.swiotlb = new SwiotlbMem(this, cfg.platform);
    this.iommu = new IommuState(this, cfg.domains);
    this.debug = new DmaDebug(this, cfg.platform.dmaDebug);
  }

  device(name: string): Device {
    const d = this.devices.get(name);
    if (!d) throw new ModelInputError(`unknown device "${name}"`);
    return d;
  }

  get is618(): boolean {
    return this.profile === '6.18';
  }

  trace(system: TraceRec['system'], name: string, text: string): void {
    this.out.trace.push({ system, name, text });
    this.out.ran.trace = true;
  }

  /** A kernel log line, verbatim. */
  printk(line: string): void {
    for (const l of line.split('\n')) this.out.dmesg.push(l);
  }

  /** dev_printk form: "<driver> <dev_name>: <message>". */
  dev_printk(dev: Device, msg: string): void {
    this.printk(`${dev.driver} ${dev.name}: ${msg}`);
  }

  /** dev_warn_once / dev_WARN_ONCE: once per device and call site. */
  dev_warn_once(dev: Device, site: string, msg: string): void {
    if (dev.warnedOnce.has(site)) return;
    dev.warnedOnce.add(site);
    this.dev_printk(dev, msg);
  }

  /** WARN_ON_ONCE at a call site (machine-wide). Returns true (the condition), as the macro does. */
  warn_on_once(site: string, line?: string): true {
    if (!this.onceSites.has(site)) {
      this.onceSites.add(site);
      this.printk(line ?? `WARNING: at ${site}`);
    }
    return true;
  }

  finding(kind: FindingKind, message: string): void {
    this.out.findings.push({ kind, message });
  }
}
