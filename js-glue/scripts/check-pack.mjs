#!/usr/bin/env node
// prepack: the wasm files the package's entry points load are gitignored build outputs, so a
// fresh checkout would pack without them. Fails, naming each one, unless every file is there
// and starts with the wasm magic. The list is read from package.json and the entry points: the
// .wasm files `exports` names, and every `new URL('<file>.wasm', import.meta.url)` in a file of
// its `exports` or `bin`.
// Usage: node scripts/check-pack.mjs [package dir] (default: this script's package).
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d]; // "\0asm"
const WASM_URL = /new URL\('([^']+\.wasm)', import\.meta\.url\)/g;

function exportedFiles(pkg) {
  const exported = Object.values(pkg.exports ?? {}).map((e) => (typeof e === 'string' ? e : e.default));
  const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
  return [...new Set([...exported, ...bins].filter(Boolean))];
}

// Every wasm file the package exports or its entry points load, relative to the package directory.
export function wasmFiles(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const exported = exportedFiles(pkg);
  const files = new Set(exported.filter((f) => f.endsWith('.wasm')).map((f) => relative(dir, join(dir, f))));
  for (const entry of exported.filter((f) => f.endsWith('.js'))) {
    const source = join(dir, entry);
    for (const [, url] of readFileSync(source, 'utf8').matchAll(WASM_URL)) {
      files.add(relative(dir, resolve(dirname(source), url)));
    }
  }
  return [...files].sort();
}

function problem(dir, file) {
  const path = join(dir, file);
  if (!existsSync(path)) return `${file} is missing`;
  const head = readFileSync(path).subarray(0, 4);
  if (!WASM_MAGIC.every((b, i) => head[i] === b)) return `${file} is not a wasm module`;
  return null;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const dir = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
  const files = wasmFiles(dir);
  const problems = files.map((f) => problem(dir, f)).filter(Boolean);
  if (files.length === 0) problems.push('no wasm file found in the entry points (check-pack.mjs cannot read them)');
  if (problems.length > 0) {
    process.stderr.write(`check-pack: ${problems.join('; ')}.\n` +
      'check-pack: they are build outputs (gitignored): scripts/build.sh builds them (core.wasm and image.wasm: the emscripten preset; whale.wasm: wasi).\n');
    process.exit(1);
  }
  process.stdout.write(`check-pack: ${files.join(', ')} present\n`);
}
