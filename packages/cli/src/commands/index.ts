// Every command registers itself here; each lives in its own file.
import type { Command } from 'commander';

export type SetExit = (code: number) => void;

export function registerCommands(_program: Command, _setExit: SetExit): void {}
