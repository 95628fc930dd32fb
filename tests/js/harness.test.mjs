// The WASI harness (`whale`, wasm32-wasi under node:wasi): commands, JSON out, exit codes,
// and the same answers as the native build of the same program.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeCli, root } from './targets.mjs';

const launcher = join(root, 'js-glue/bin/whale.js');
const whale = (...args) => spawnSync(process.execPath, [launcher, ...args], { encoding: 'utf8' });
const native = (...args) => spawnSync(nativeCli, args, { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'whale-harness-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name, value) => {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
};

test('--help prints the commands and exits 0', () => {
  const r = whale('--help');
  assert.equal(r.status, 0);
  for (const command of ['hash', 'run', 'eval', 'bandit', 'condition', 'feature', 'batch']) assert.match(r.stdout, new RegExp(`\\b${command}\\b`));
  assert.equal(r.stderr, '', 'no warnings from node:wasi');
});

test('usage errors exit 2, unreadable files 3, invalid input 1 with a JSON error', () => {
  assert.equal(whale().status, 2);
  assert.equal(whale('frobnicate').status, 2);
  assert.equal(whale('hash', 'only-seed').status, 2);
  const missing = whale('run', join(dir, 'nope.json'), join(dir, 'nope2.json'));
  assert.equal(missing.status, 3);
  assert.equal(JSON.parse(missing.stderr).error.code, 'io');
  const bad = whale('run', file('bad.json', '{"key": '), file('ctx.json', {}));
  assert.equal(bad.status, 1);
  assert.equal(JSON.parse(bad.stderr).error.code, 'invalid_json');
  const deep = whale('condition', file('deep.json', '{"$not":'.repeat(80) + '{}' + '}'.repeat(80)), file('attrs.json', {}));
  assert.equal(deep.status, 1);
  assert.equal(JSON.parse(deep.stderr).error.code, 'too_deep');
});

test('hash, run, eval, condition, feature and bandit answer as the native build does', () => {
  const experiment = file('exp.json', { key: 'checkout', variations: ['a', 'b', 'c'], hashVersion: 2 });
  const context = file('ctx.json', { attributes: { id: 'user-42' } });
  const payload = { features: { banner: { defaultValue: 'off', rules: [{ condition: { country: 'US' }, force: 'on' }] } } };
  const features = file('features.json', payload);
  const attributes = file('attributes.json', { id: 'user-42', country: 'US' });
  const condition = file('condition.json', { country: { $in: ['US', 'CA'] } });
  const arms = file('arms.json', { arms: [{ alpha: 3, beta: 9 }, { alpha: 5, beta: 7 }], seed: 'x', draws: 2000 });
  const calls = [
    ['hash', 'seed', 'user-42', '2'],
    ['run', experiment, context],
    ['eval', features, attributes],
    ['condition', condition, attributes],
    ['feature', 'banner', file('fctx.json', { attributes: { country: 'US' }, features: payload.features })],
    ['bandit', arms],
  ];
  for (const args of calls) {
    const ours = whale(...args);
    assert.equal(ours.status, 0, `${args[0]}: ${ours.stderr}`);
    JSON.parse(ours.stdout);
    assert.equal(ours.stdout, native(...args).stdout, `${args[0]} differs from native`);
  }
  assert.equal(JSON.parse(whale('eval', features, attributes).stdout).features.banner.value, 'on');
  const weights = JSON.parse(whale('bandit', arms).stdout);
  assert.equal(weights.length, 2);
  assert.ok(Math.abs(weights[0] + weights[1] - 1) < 1e-12);
});

test('whale image writes its output relative to the caller, the same bytes as the native build', () => {
  const input = join(root, 'fixtures/images/320x240.jpg');
  const run = (cmd, args) => spawnSync(cmd, args, { cwd: dir, encoding: 'utf8' });
  const wasi = run(process.execPath, [launcher, 'image', 'width=100,format=png', input, 'wasi-out.png']);
  assert.equal(wasi.status, 0, wasi.stderr);
  assert.deepEqual(JSON.parse(wasi.stdout), { width: 100, height: 75, type: 'image/png', bytes: readFileSync(join(dir, 'wasi-out.png')).length });
  const nat = run(nativeCli, ['image', 'width=100,format=png', input, 'native-out.png']);
  assert.equal(nat.status, 0, nat.stderr);
  assert.deepEqual(readFileSync(join(dir, 'wasi-out.png')), readFileSync(join(dir, 'native-out.png')));
});
