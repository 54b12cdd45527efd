// The dmasim command: a typed option table per command; each command returns an exit code;
// one top-level catch maps errors to the exit-code table.

import { Command, CommanderError } from 'commander';
import { EXIT, EXIT_TABLE, InputError } from './errors.ts';
import { VERSION } from './version.ts';
import { registerCommands } from './commands/index.ts';

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('dmasim')
    .description("Deterministic, event-sourced simulator of the Linux kernel's DMA mapping layer")
    .version(VERSION, '-V, --version')
    .addHelpText('after', '\n' + EXIT_TABLE)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerCommands(program, setExit);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.OK;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      return EXIT.BAD_INPUT;
    }
    if (e instanceof InputError || (e instanceof Error && (e as { code?: string }).code === 'BAD_INPUT')) {
      process.stderr.write(`dmasim: ${e.message}\n`);
      return EXIT.BAD_INPUT;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(
      `dmasim: internal error: ${err.message}\n${err.stack ?? ''}\nThis is a bug in dmasim: please report it with the command line, the seed and the log path.\n`,
    );
    return EXIT.INTERNAL;
  }
}
