// The package's prepack check (js-glue/scripts/check-pack.mjs): the wasm files the entry points
// load are gitignored build outputs, so packing without them must fail and name them. Run on a
// temporary copy of the package, through `npm pack --dry-run` (which runs prepack and writes no
// tarball), so the real js-glue/ is never touched.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wasmFiles } from '../../js-glue/scripts/check-pack.mjs';
import { root } from './targets.mjs';

const glue = join(root, 'js-glue');
let dir;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'whale-pack-'));
  cpSync(glue, dir, { recursive: true, filter: (path) => !path.includes('node_modules') });
});
after(() => rmSync(dir, { recursive: true, force: true }));

// npm pack --dry-run in dir: {status, stdout, stderr, files}; prepack's own output precedes
// the --json listing on stdout.
function packDryRun() {
  const run = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts=false'], { cwd: dir, encoding: 'utf8' });
  const listing = run.status === 0 ? JSON.parse(run.stdout.slice(run.stdout.indexOf('[\n'))) : [{ files: [] }];
  return { ...run, files: listing[0].files.map((f) => f.path) };
}

test('the wasm files are read from the exports and entry points: avif, core, image and the harness', () => {
  assert.deepEqual(wasmFiles(glue), ['avif.wasm', 'core.wasm', 'image.wasm', 'whale.wasm']);
});

test('prepack passes when every wasm file is present, and they are in the tarball', () => {
  const run = packDryRun();
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout + run.stderr, /check-pack: avif\.wasm, core\.wasm, image\.wasm, whale\.wasm present/);
  for (const file of wasmFiles(glue)) assert.ok(run.files.includes(file), `${file} packed`);
  assert.ok(run.files.includes('README.md'), 'README.md packed');
  assert.ok(!run.files.some((f) => f.startsWith('scripts/')), 'the pack check itself is not packed');
});

test('prepack fails and names the file when a wasm file is missing', () => {
  rmSync(join(dir, 'image.wasm'));
  const run = packDryRun();
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /check-pack: image\.wasm is missing/);
  assert.doesNotMatch(run.stderr, /core\.wasm is missing/);
});

test('prepack fails when a wasm file is not a wasm module', () => {
  writeFileSync(join(dir, 'image.wasm'), '');
  writeFileSync(join(dir, 'core.wasm'), 'version https://git-lfs.github.com/spec/v1\n');
  const run = spawnSync(process.execPath, [join(dir, 'scripts/check-pack.mjs'), dir], { encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /core\.wasm is not a wasm module; image\.wasm is not a wasm module/);
  assert.match(run.stderr, /scripts\/build\.sh/);
});
