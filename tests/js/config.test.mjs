// Vendor configs through the glue on both wasm builds: the fixtures parse to the same summary
// on each, bad configs throw (or validateConfig answers) with the code and the JSON path, and the
// instance's cache resolves (slug, version). The generated fixtures match their generator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { targets, engineFor, root } from './targets.mjs';
import { WhaleError } from '../../js-glue/index.js';
import { VENDORS, format } from '../../fixtures/vendors/generate.mjs';

const slugs = ['flora-distro', 'green-harbor', 'minimal'];
const texts = Object.fromEntries(await Promise.all(slugs.map(async (slug) =>
  [slug, await readFile(join(root, 'fixtures/vendors', slug, 'config.json'), 'utf8')])));

test('the committed configs are the generator\'s output', () => {
  for (const slug of slugs) assert.equal(texts[slug], `${format(VENDORS[slug]())}\n`, `${slug}: run node fixtures/vendors/generate.mjs`);
});

const summaries = {};
for (const target of targets) {
  test(`${target.name}: the fixtures parse`, async () => {
    const e = await engineFor(target);
    for (const slug of slugs) {
      const fromText = e.parseConfig(texts[slug]);
      const fromBytes = e.parseConfig(new TextEncoder().encode(texts[slug]));
      assert.deepEqual(fromBytes, fromText);
      assert.equal(fromText.vendor, slug);
      summaries[target.name] ??= {};
      summaries[target.name][slug] = fromText;
    }
    assert.equal(summaries[target.name]['green-harbor'].products, 240);
    assert.equal(summaries[target.name]['green-harbor'].experiments, 20);
    assert.equal(summaries[target.name]['flora-distro'].features, 21); // features.json's 20 and home-hero
  });

  test(`${target.name}: bad configs name the path and the rule`, async () => {
    const e = await engineFor(target);
    const config = JSON.parse(texts['flora-distro']);
    config.pages[0].sections[1].components[0].props.title = 5;
    assert.throws(() => e.parseConfig(config), (err) => err instanceof WhaleError && err.code === 'wrong_type' &&
      err.message === 'pages[0].sections[1].components[0].props.title: expected string');
    assert.deepEqual(e.validateConfig('{"vendor":{},"vendor":{}}'),
      { ok: false, code: 'invalid_json', message: 'config: duplicate key "vendor"' });
    assert.equal(e.validateConfig(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])).code, 'invalid_utf8');
    assert.equal(e.validateConfig(`{"x-pad":"${'a'.repeat(4 * 1024 * 1024)}"}`).code, 'too_large');
    assert.equal(e.validateConfig(`{"x-deep":${'['.repeat(500)}${']'.repeat(500)}}`).code, 'too_deep');
    assert.equal(e.validateConfig(texts.minimal).ok, true);
  });

  test(`${target.name}: loaded configs resolve by (slug, version)`, async () => {
    const e = await engineFor(target);
    e.loadConfig(texts.minimal, 1);
    e.loadConfig(texts['flora-distro'], 7);
    assert.equal(e.resolveConfig('minimal', 1), true);
    assert.equal(e.resolveConfig('flora-distro', 7), true);
    assert.equal(e.resolveConfig('flora-distro', 6), false);
    assert.equal(e.resolveConfig('nobody', 1), false);
    const stats = e.configCacheStats();
    assert.deepEqual({ hits: stats.hits, misses: stats.misses, entries: stats.entries, evictions: stats.evictions },
      { hits: 2, misses: 2, entries: 2, evictions: 0 });
    assert.equal(stats.budget, 16 * 1024 * 1024);
    assert.ok(stats.bytes > 0 && stats.bytes <= stats.budget);
  });
}

test('both wasm builds give the same summaries', () => {
  const names = Object.keys(summaries);
  if (names.length < 2) return;
  assert.deepEqual(summaries[names[1]], summaries[names[0]]);
});
