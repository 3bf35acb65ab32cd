#!/usr/bin/env node
import module from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { endQuietlyWhenOutputCloses } from '../src/cli/closed-output.js';
import { WASM_TIERING_OPTION } from '../src/evidence/wasm-budget.js';

// Before any WebAssembly is compiled: the embedded store's PostgreSQL (PGlite, ~8 MB of WASM)
// then runs on V8's baseline compiler alone. Optimising it in the background cost more CPU
// and memory than a CLI call or an evidence query ever won back. Node 24 ignores
// --liftoff-only set at run time (a history call took 4.5 s of CPU and 640 MB, its exit
// waiting on TurboFan jobs) but honours a tier-up budget no query spends.
// Node >= 22.1 keeps V8's compiled code for the bundle's chunks between calls (under
// os.tmpdir()/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off): about a tenth
// of a validate or history call's CPU on Node 24. Node 20 has no such cache.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
setFlagsFromString('--liftoff-only');
setFlagsFromString(WASM_TIERING_OPTION);
endQuietlyWhenOutputCloses([process.stdout, process.stderr]);

const [, , first, ...rest] = process.argv;
if ((first === '--version' || first === '-V') && rest.length === 0) {
  // The version alone needs no command line parser: commander and the verbs stay unloaded.
  const { VERSION } = await import('../src/version.js');
  process.stdout.write(`${VERSION}\n`);
} else {
  const { main } = await import('../src/cli/program.js');
  // The jobs (and through them every source kind) load only for the verbs that run them.
  process.exitCode = await main(process.argv, async () => (await import('../jobs/index.js')).jobs);
}
