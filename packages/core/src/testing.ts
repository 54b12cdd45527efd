// Test helpers (the `@dmasim/core/testing` export): not part of the public API.
import { defaultDevice, defaultDomain, defaultPlatform, type DeviceConfig, type DomainConfig, type MachineConfig, type Profile } from './config.ts';
import { Machine } from './machine.ts';

export function testMachine(opts: {
  profile?: Profile;
  devices?: Partial<DeviceConfig>[];
  platform?: Partial<ReturnType<typeof defaultPlatform>>;
  /** A name gives a default (strict) domain; an object overrides the defaults of its name. */
  domains?: (string | (Partial<DomainConfig> & { name: string }))[];
}): Machine {
  const cfg: MachineConfig = {
    profile: opts.profile ?? '6.18',
    seed: 1n,
    platform: { ...defaultPlatform(), ...(opts.platform ?? {}) },
    domains: (opts.domains ?? []).map((d) => (typeof d === 'string' ? defaultDomain(d) : { ...defaultDomain(d.name), ...d })),
    devices: (opts.devices ?? [{}]).map((d, i) => ({ ...defaultDevice(`0000:0${i + 1}:00.0`), ...d })),
  };
  return new Machine(cfg);
}
export { PerturbedMachine, perturbedMachine, type Perturbation } from './log/perturb.ts';
export { syntheticMapUnmap } from './log/test-helpers.ts';
