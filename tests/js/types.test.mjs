// The package's .d.ts files, checked as a user sees them: tests/js/fixtures/types/consumer.ts
// imports every entry point by the package's name (resolved through package.json "exports") and
// uses its main functions; `tsc --noEmit --strict` must accept it under node16 and bundler
// resolution. A .d.ts made wrong on purpose must be refused, and every value a .d.ts declares
// must be what the .js exports at runtime (and the other way round).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { root } from './targets.mjs';

const tsc = join(root, 'node_modules/.bin/tsc');
const glue = join(root, 'js-glue');
const fixture = join(root, 'tests/js/fixtures/types');
const pkg = JSON.parse(readFileSync(join(glue, 'package.json'), 'utf8'));
const temps = [];
after(() => { for (const dir of temps) rmSync(dir, { recursive: true, force: true }); });

function compile(project, ...flags) {
  return spawnSync(tsc, ['-p', project, '--pretty', 'false', ...flags], { cwd: root, encoding: 'utf8' });
}

test('the consumer compiles under --strict with node16 resolution', () => {
  const run = compile(join(fixture, 'tsconfig.json'));
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test('the consumer compiles under --strict with bundler resolution', () => {
  const run = compile(join(fixture, 'tsconfig.json'), '--module', 'preserve', '--moduleResolution', 'bundler');
  assert.equal(run.status, 0, run.stdout + run.stderr);
});

test('a wrong .d.ts is refused', () => {
  // A project of its own: the consumer, and a copy of the package in node_modules whose
  // index.d.ts says hash() returns a string.
  const dir = mkdtempSync(join(tmpdir(), 'whale-types-'));
  temps.push(dir);
  const copy = join(dir, 'node_modules/@whaletools/edge');
  mkdirSync(copy, { recursive: true });
  cpSync(glue, copy, { recursive: true, filter: (path) => path === glue || /\.d\.ts$|package\.json$/.test(path) });
  const index = readFileSync(join(copy, 'index.d.ts'), 'utf8');
  const wrong = index.replace('version?: 1 | 2): number | null;', 'version?: 1 | 2): string;');
  assert.notEqual(wrong, index, 'the mutation applies');
  writeFileSync(join(copy, 'index.d.ts'), wrong);
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  for (const file of ['consumer.ts', 'tsconfig.json']) cpSync(join(fixture, file), join(dir, file));
  const run = compile(join(dir, 'tsconfig.json'));
  assert.notEqual(run.status, 0);
  assert.match(run.stdout, /consumer\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
});

test('each entry point declares exactly the values its module exports', async () => {
  const entries = Object.values(pkg.exports).filter((e) => typeof e === 'object');
  const program = ts.createProgram(entries.map((e) => join(glue, e.types)), {
    strict: true, noEmit: true, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: [],
  });
  const checker = program.getTypeChecker();
  for (const entry of entries) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(join(glue, entry.types)));
    const declared = checker.getExportsOfModule(module)
      .filter((s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s).flags & ts.SymbolFlags.Value)
      .map((s) => s.name).sort();
    const runtime = Object.keys(await import(join(glue, entry.default))).sort();
    assert.deepEqual(declared, runtime, `${entry.types} against ${entry.default}`);
  }
});
