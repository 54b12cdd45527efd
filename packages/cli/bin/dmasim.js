#!/usr/bin/env node
// The installed `dmasim` binary: loads the TypeScript sources through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/bin.ts');
