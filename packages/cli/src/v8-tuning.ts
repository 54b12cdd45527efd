// V8 settings for a dmasim process, applied before the model runs (bin.ts imports this first; the
// bench's processes do too, so they measure what `dmasim` runs). Measured in BENCHMARKS.md,
// "Fourth round"; it changes no behaviour.
//
// Allocation-site pretenuring off. V8 watches how many objects from each allocation site survive
// a young-generation GC and, past a threshold, allocates that site's objects straight in the old
// generation. A replay's decoded events, outcomes and trace records die young, but a batch of them
// is alive while its events are applied, so in some processes V8 decides to pretenure them and
// every one then costs an old-generation collection: the log reader ran at ~1.1 M instead of
// ~1.8 M events/s in roughly one process in three, for the whole life of the process (the
// "bimodal reader" of BENCHMARKS.md), and replay at up to 8 % below its speed with the flag.
// Process-wide, and settable at run time, so it is set here.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-allocation-site-pretenuring');
