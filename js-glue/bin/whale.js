#!/usr/bin/env node
// Runs the `whale` harness (the core compiled to wasm32-wasi) under Node's WASI.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import process from 'node:process';

// node:wasi prints an ExperimentalWarning when loaded; the harness's stderr is for its own errors.
process.removeAllListeners('warning');
const { WASI } = await import('node:wasi');

const wasmUrl = new URL('../whale.wasm', import.meta.url);
if (!existsSync(wasmUrl)) {
  process.stderr.write('whale: js-glue/whale.wasm is missing; build the wasi preset (scripts/test.sh does)\n');
  process.exit(3);
}
// The guest sees the host's root as "/", so file arguments are passed as absolute paths.
const args = process.argv.slice(2).map((a) => (existsSync(a) ? resolve(a) : a));
// `whale image <options> <in> [<out>]`: the output file does not exist yet; resolve it too.
if (args[0] === 'image') {
  const positional = [];
  for (let i = 1; i < args.length; i++) {
    if (args[i].startsWith('--')) { if (args[i] === '--accept') i++; continue; }
    positional.push(i);
  }
  if (positional.length >= 3 && args[positional[2]] !== '-') args[positional[2]] = resolve(args[positional[2]]);
}
const wasi = new WASI({ version: 'preview1', args: ['whale', ...args], env: {}, preopens: { '/': '/' }, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(wasmUrl));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
