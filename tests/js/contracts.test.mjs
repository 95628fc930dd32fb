// The contracts between C++ and JS that are written down twice or three times: error codes
// (include/whale/result.h, src/core/result.cpp, js-glue/index.js), feature sources
// (include/whale/assign.h, src/core/assign.cpp, js-glue/index.js) and the compact record sizes
// (include/whale/assign.h, js-glue/index.js). Editing one copy alone fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../js-glue/index.js';
import { root } from './targets.mjs';

const read = (path) => readFileSync(join(root, path), 'utf8');

// `name = number` entries of a C++ enum class.
function enumOf(text, name) {
  const body = new RegExp(`enum class ${name}[^{]*\\{([^}]*)\\}`).exec(text);
  assert.ok(body, `enum class ${name} not found`);
  return [...body[1].matchAll(/^\s*(\w+)\s*=\s*(\d+)/gm)].map((m) => [m[1], Number(m[2])]);
}

test('error codes: the enum, its names in C++ and the glue\'s table agree', () => {
  const codes = enumOf(read('include/whale/result.h'), 'error_code');
  assert.ok(codes.length >= 16);
  const names = Object.fromEntries([...read('src/core/result.cpp').matchAll(/case error_code::(\w+):\s*return "(\w+)"/g)].map((m) => [m[1], m[2]]));
  assert.equal(ERROR_CODES.length, codes.length, 'the glue names every code');
  for (const [name, number] of codes) {
    assert.equal(names[name], name, `result.cpp names error_code::${name} "${name}"`);
    assert.equal(ERROR_CODES[number], name, `ERROR_CODES[${number}] is "${name}"`);
  }
});

test('feature sources: the enum, the names assign.cpp maps and the glue\'s table agree', () => {
  const sources = enumOf(read('include/whale/assign.h'), 'feature_source');
  const glue = /const SOURCES = \[([^\]]*)\]/.exec(read('js-glue/index.js'));
  assert.ok(glue, 'SOURCES in index.js');
  const table = [...glue[1].matchAll(/'(\w+)'/g)].map((m) => m[1]);
  assert.equal(table.length, sources.length);
  const mapped = Object.fromEntries([...read('src/core/assign.cpp')
    .matchAll(/case feature_source::(\w+): return "(\w+)";/g)].map((m) => [m[1], m[2]]));
  for (const [name, number] of sources) {
    assert.equal(table[number], mapped[name], `feature_source::${name} (${number}) is "${mapped[name]}" in both`);
  }
});

test('compact records: the words the core writes are the bytes the glue reads', () => {
  const header = read('include/whale/assign.h');
  const words = (name) => Number(new RegExp(`constexpr int ${name} = (\\d+);`).exec(header)?.[1]);
  const glue = read('js-glue/index.js');
  const bytes = (name) => Number(new RegExp(`const ${name} = (\\d+);`).exec(glue)?.[1]);
  assert.equal(bytes('FEATURE_RECORD_BYTES'), 4 * words('compact_feature_words'));
  assert.equal(bytes('EXPOSURE_RECORD_BYTES'), 4 * words('compact_exposure_words'));
});
