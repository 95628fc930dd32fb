// engine.renderLayout through the glue, on both wasm cores: the golden layouts of
// fixtures/layouts, and not_found for a config that is not loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhaleError } from '../../js-glue/index.js';
import { targets, engineFor, fixtureJson, root } from './targets.mjs';

const cases = await fixtureJson('layouts/cases.json');

for (const target of targets) {
  test(`${target.name}: renderLayout gives the golden layouts`, async () => {
    const engine = await engineFor(target);
    for (const slug of new Set(cases.map((c) => c.vendor))) {
      engine.loadConfig(readFileSync(join(root, 'fixtures/vendors', slug, 'config.json')), 7);
    }
    for (const { name, vendor, page, attributes, now } of cases) {
      const golden = readFileSync(join(root, 'fixtures/layouts', `${name}.json`), 'utf8');
      assert.equal(engine.renderLayoutText(vendor, 7, { page, attributes, now }) + '\n', golden, name);
      assert.deepEqual(engine.renderLayout(vendor, 7, { page, attributes, now }), JSON.parse(golden), name);
    }
  });

  test(`${target.name}: renderLayout refuses what is not loaded`, async () => {
    const engine = await engineFor(target);
    assert.throws(() => engine.renderLayout('flora-distro', 1, { page: 'home' }),
      (e) => e instanceof WhaleError && e.code === 'not_found');
    engine.loadConfig(readFileSync(join(root, 'fixtures/vendors/flora-distro/config.json')), 1);
    assert.throws(() => engine.renderLayout('flora-distro', 1, { page: 'nope' }),
      (e) => e instanceof WhaleError && e.code === 'not_found' && /no page "nope"/.test(e.message));
    const layout = engine.renderLayout('flora-distro', 1, { page: 'cart', attributes: { id: 'u' } });
    assert.equal(layout.page, 'cart');
    assert.equal(engine.abiVersion, '1.6');
  });
}
