export { main, buildProgram } from './main.ts';
export { EXIT, EXIT_TABLE, InputError } from './errors.ts';
