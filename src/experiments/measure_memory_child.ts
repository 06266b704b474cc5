/**
 * The fresh process `measureInFreshProcess` spawns: argv[2] is a PeakRequest as JSON; the one line
 * it prints is the PeakMeasurement. Every module is imported before the baseline is taken. A
 * failure is one line on stderr, which the parent quotes.
 */
import { measureHere, type PeakRequest } from './measure_memory.js';

try {
  const [request] = process.argv.slice(2);
  if (!request) throw new Error('usage: measure_memory_child REQUEST_JSON (see measure_memory.ts)');
  const result = await measureHere(JSON.parse(request) as PeakRequest);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (e) {
  process.stderr.write(`${(e as Error).message.split('\n')[0]}\n`);
  process.exitCode = 1;
}
