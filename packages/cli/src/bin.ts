import './v8-tuning.ts'; // first: V8 flags before the model's code runs
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
process.exitCode = code;
