// The kernel-side state every model function works on (`k`), and the emit helpers through which
// a call records what it printed and traced into the current event's outcome.

import type { MachineConfig, Profile } from './config.ts';
import { emptyOutcome, type FindingKind, type Outcome, type TraceRec } from './events.ts';
import { VirtualClock } from './platform/clock.ts';
import { Device } from './platform/device.ts';
import { Memory } from './platform/memory.ts';
import { SwiotlbMem } from './dma/swiotlb.ts';
import { LiveMappings } from './dma/live.ts';
import { DmaDebug } from './dma/debug.ts';
import { IommuState } from './iommu/dma-iommu.ts';
import { Prng } from './util/prng.ts';
import { internalized } from './util/intern.ts';
import type { Hasher } from './util/hash.ts';
import type { TracePool } from './dma/trace.ts';

/** Thrown for a kernel BUG()/BUG_ON(): the call crashes the (simulated) kernel. */
export class KernelBug extends Error {
  readonly code = 'KERNEL_BUG';
}

/** Thrown when a request cannot be modelled (bad device name, unknown domain, ...): bad input. */
export class ModelInputError extends Error {
  readonly code = 'MODEL_INPUT';
}

/** DEFAULT_RATELIMIT_INTERVAL (5 * HZ) and DEFAULT_RATELIMIT_BURST of include/linux/ratelimit.h. */
const RATELIMIT_INTERVAL_NS = 5_000_000_000;
const RATELIMIT_BURST = 10;

interface RatelimitState { begin: number; printed: number; missed: number }

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
  /** Every live streaming mapping and coherent allocation the model holds, on every path. */
  readonly live = new LiveMappings();
  /** Outcome of the event being applied. */
  out: Outcome = emptyOutcome(0);
  /** Trace records to reuse for this event's outcome (dma/trace.ts): set by Machine.apply while outcomes are recycled, else null. */
  tracePool: TracePool | null = null;
  /** Sequence number of the event being applied (1-based; 0 before the first). */
  seq = 0;
  /** CPU the current call runs on. */
  cpu = 0;
  /** WARN_ON_ONCE / dev_WARN_ONCE / *_once call sites already hit, machine-wide (they are static per site). */
  readonly onceSites = new Set<string>();
  /** The BUG line once a call crashed the kernel; every later event is refused. */
  crashed: string | null = null;
  /** Per-call-site ratelimit states of the *_ratelimited printks (DEFINE_RATELIMIT_STATE per site). */
  private readonly ratelimits = new Map<string, RatelimitState>();

  constructor(cfg: MachineConfig) {
    this.cfg = cfg;
    this.profile = cfg.profile;
    this.prng = new Prng(cfg.seed);
    this.deviceList = cfg.devices.map((d, i) => new Device(d, i, cfg.platform.iommu.forcedac));
    for (const d of this.deviceList) this.devices.set(internalized(d.name), d); // util/intern.ts
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

  /** IS_ENABLED(CONFIG_DMA_API_DEBUG): the platform's dma-debug switch. */
  get dmaApiDebug(): boolean {
    return this.cfg.platform.dmaDebug.enabled;
  }

  trace(system: TraceRec['system'], name: string, text: string): void {
    this.traceRec({ system, name, text });
  }

  /** A record whose text is formatted when read (dma/trace.ts, Trace). */
  traceRec(t: TraceRec): void {
    this.out.trace.push(t);
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

  /**
   * The line a WARN prints after its message. Synthetic: the kernel prints
   * "WARNING: CPU: <n> PID: <pid> at <file>:<line> <fn>+<off>/<size>"; the model has no line
   * numbers or offsets, so it names the file and function (the form dma-debug's reports use too).
   */
  warnLine(file: string, fn: string): string {
    return `WARNING: CPU: ${this.cpu} at ${file} ${fn}`;
  }

  /** dev_warn_once / dev_err_once: once per call site (a static flag in the macro), machine-wide. */
  dev_warn_once(dev: Device, site: string, msg: string): void {
    if (this.onceSites.has(site)) return;
    this.onceSites.add(site);
    this.dev_printk(dev, msg);
  }

  /** dev_WARN_ONCE(dev, 1, msg): the device message, then the WARNING line; once per call site (one per fn here). */
  dev_WARN_ONCE(dev: Device, file: string, fn: string, msg: string): void {
    const site = `${file}:${fn}:WARN`;
    if (this.onceSites.has(site)) return;
    this.onceSites.add(site);
    this.dev_printk(dev, msg);
    this.printk(this.warnLine(file, fn));
  }

  /** WARN_ON_ONCE(cond) at a call site (machine-wide). Returns true (the condition), as the macro does. */
  warn_on_once(file: string, fn: string, tag = ''): true {
    const site = `${file}:${fn}:${tag}`;
    if (!this.onceSites.has(site)) {
      this.onceSites.add(site);
      this.printk(this.warnLine(file, fn));
    }
    return true;
  }

  /**
   * dev_warn_ratelimited: ___ratelimit() with the default 5 s interval and burst 10, on virtual
   * time. When a new interval begins after suppressions, "<fn>: <n> callbacks suppressed" comes first.
   */
  dev_warn_ratelimited(dev: Device, fn: string, site: string, msg: string): void {
    const now = this.clock.nowNs;
    let rs = this.ratelimits.get(site);
    if (!rs) {
      rs = { begin: now, printed: 0, missed: 0 };
      this.ratelimits.set(site, rs);
    }
    if (rs.begin + RATELIMIT_INTERVAL_NS < now) {
      if (rs.missed) this.printk(`${fn}: ${rs.missed} callbacks suppressed`);
      rs.missed = 0;
      rs.begin = now;
      rs.printed = 0;
    }
    if (rs.printed < RATELIMIT_BURST) {
      rs.printed++;
      this.dev_printk(dev, msg);
    } else {
      rs.missed++;
    }
  }

  /**
   * BUG() / BUG_ON(): prints "kernel BUG at <file>:<fn>!" and throws; Machine.apply catches it and
   * marks the machine crashed. Synthetic text: the kernel names a line number where we name the function.
   */
  BUG(file: string, fn: string): never {
    const line = `kernel BUG at ${file}:${fn}!`;
    this.printk(line);
    throw new KernelBug(line);
  }

  finding(kind: FindingKind, message: string): void {
    this.out.findings.push({ kind, message });
  }

  /** Kernel-wide state beside the subsystems: once flags, ratelimits, the crash, live mappings. */
  hashInto(h: Hasher): void {
    h.str(this.crashed ?? '');
    const once = [...this.onceSites].sort();
    h.u32(once.length);
    for (const s of once) h.str(s);
    const rl = [...this.ratelimits.keys()].sort();
    h.u32(rl.length);
    for (const key of rl) {
      const rs = this.ratelimits.get(key)!;
      h.str(key).num(rs.begin).u32(rs.printed).u32(rs.missed);
    }
    this.live.hashInto(h);
  }
}
