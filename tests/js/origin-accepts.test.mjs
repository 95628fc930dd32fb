// What the origin accepts, every edge loads: seeded mutants of the vendor fixtures (byte flips,
// truncations, a byte order mark, NUL, invalid UTF-8, huge numbers, deep nesting, duplicate keys,
// stray whitespace, bad escapes, trailing bytes) are PUT to a real whale-origin; each one it
// accepts is read back as stored (the bytes it signs and serves) and loaded the way an edge loads
// a snapshot (edge-workers/sync.js: decoded as text, JSON.parse, the signed bytes re-encoded,
// loadFeatures of {features, savedGroups}; storefront.js: loadConfig of the text) on the
// emscripten core.wasm. The run is deterministic: the same seed gives the same mutants.
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_EMSCRIPTEN_DIR; WHALE_FUZZ_SEED and
// WHALE_FUZZ_MUTANTS to try others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { targets, engineFor, root } from './targets.mjs';
import { addPrincipal, request, startOrigin, stop } from '../../scripts/stack.mjs';
import { mulberry32 } from '../../bench/bandit-sim.mjs';

const SEED = Number(process.env.WHALE_FUZZ_SEED ?? 20261204);
const MUTANTS = Number(process.env.WHALE_FUZZ_MUTANTS ?? 400);
const SLUGS = ['minimal', 'flora-distro', 'green-harbor'];
const encoder = new TextEncoder();
const fixtures = Object.fromEntries(SLUGS.map((slug) =>
  [slug, readFileSync(join(root, 'fixtures/vendors', slug, 'config.json'))]));

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const bytes = (x) => (typeof x === 'string' ? encoder.encode(x) : Uint8Array.from(x));

// Positions of every byte in `text` that is one of `chars`.
function positions(text, chars) {
  const out = [];
  for (let i = 0; i < text.length; i++) if (chars.includes(text[i])) out.push(i);
  return out;
}

const INVALID_UTF8 = [[0xff], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]];
const NUMBERS = ['1e400', '-1e400', '1e20', '123456789012345678901234567890', '-0', '1E+2', '0.1e-400',
  '9007199254740993', '1.5e308', '01', '1.', '.5', '+1', 'NaN', 'Infinity'];
const EXTENSIONS = ['tru', '01', '[1,]', '{"a":1,}', '"\\x"', '"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"',
  '1e400', '[' + '['.repeat(200) + ']'.repeat(200) + ']', '"\u2028"', 'null', '{"a":1,"a":2}'];
const WHITESPACE = [[0x0c], [0x0b], [0xc2, 0xa0], [0xef, 0xbb, 0xbf], [0x00], [0xe2, 0x80, 0xa8]];

// One mutant of `base` (bytes of a fixture): [kind, bytes].
function mutate(base, random) {
  const pick = (list) => list[Math.floor(random() * list.length)];
  const at = (n = base.length) => Math.floor(random() * n);
  const text = new TextDecoder().decode(base);
  const kinds = {
    flip: () => {
      const out = Uint8Array.from(base);
      out[at()] = Math.floor(random() * 256);
      return out;
    },
    truncate: () => base.slice(0, at()),
    bom: () => concat(bytes([0xef, 0xbb, 0xbf]), base),
    nul: () => {
      const i = at();
      return concat(base.slice(0, i), bytes([0]), base.slice(i));
    },
    invalid_utf8: () => {
      const i = at();
      return concat(base.slice(0, i), bytes(pick(INVALID_UTF8)), base.slice(i));
    },
    number: () => {
      // Replaces the value after a random ":" that starts a number or a literal.
      const starts = positions(text, ':').filter((i) => /[-0-9tfn]/.test(text[i + 1] ?? ''));
      if (starts.length === 0) return base;
      const i = pick(starts) + 1;
      const end = i + /^[-+0-9.eEa-z]+/.exec(text.slice(i))[0].length;
      return bytes(text.slice(0, i) + pick(NUMBERS) + text.slice(end));
    },
    deep: () => {
      const depth = 100 + at(200);
      return bytes(`{"x-deep":${'['.repeat(depth)}${']'.repeat(depth)},${text.slice(text.indexOf('{') + 1)}`);
    },
    duplicate: () => {
      // Repeats one member of some object right after it: `"key": value` as written up to the next comma.
      const keys = positions(text, '{').filter((i) => /^\{\s*"[^"]+"\s*:\s*("[^"]*"|[-0-9.eE]+|true|false|null)\s*,/.test(text.slice(i)));
      if (keys.length === 0) return base;
      const i = pick(keys);
      const member = /^\{\s*("[^"]+"\s*:\s*(?:"[^"]*"|[-0-9.eE]+|true|false|null))\s*,/.exec(text.slice(i))[1];
      return bytes(`${text.slice(0, i + 1)}${member},${text.slice(i + 1)}`);
    },
    whitespace: () => {
      const spots = positions(text, ',:[]{}');
      const i = spots.length ? pick(spots) + 1 : 0;
      const prefix = encoder.encode(text.slice(0, i));
      return concat(prefix, bytes(pick(WHITESPACE)), base.slice(prefix.length));
    },
    extension: () => bytes(`{"x-fuzz":${pick(EXTENSIONS)},${text.slice(text.indexOf('{') + 1)}`),
    trailing: () => concat(base, bytes(pick([[0x00], [0x78], [0x7b, 0x7d], [0xef, 0xbb, 0xbf], [0x0c], [0x5d]]))),
  };
  const kind = pick(Object.keys(kinds));
  return [kind, kinds[kind]()];
}

// Why an edge would refuse `stored` (the config bytes the origin signs and serves), or null.
function edgeRefusal(engine, stored, version) {
  // As res.text() decodes a snapshot: the config is mid-body, so a BOM in it stays a character;
  // invalid UTF-8 would become U+FFFD.
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(stored);
  if (Buffer.compare(Buffer.from(encoder.encode(text)), Buffer.from(stored)) !== 0) {
    return 'the signed bytes do not survive decoding as text (bad_signature)';
  }
  let config;
  try {
    config = JSON.parse(text);
  } catch (e) {
    return `JSON.parse: ${e.message} (malformed)`;
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return 'not an object (malformed)';
  try {
    engine.loadFeatures({ features: config.features ?? {}, savedGroups: config.savedGroups ?? {} }).free();
  } catch (e) {
    return `loadFeatures: ${e.code}: ${e.message} (invalid_config)`;
  }
  try {
    engine.loadConfig(text, version);
  } catch (e) {
    return `loadConfig: ${e.code}: ${e.message}`;
  }
  return null;
}

const work = mkdtempSync(join(tmpdir(), 'whale-accepts-'));
let origin = null;
const tokens = {};

before(async () => {
  const db = join(work, 'origin.db');
  for (const slug of SLUGS) tokens[slug] = addPrincipal('vendor', slug, db);
  origin = await startOrigin({ db });
});

after(async () => {
  await stop(origin?.child);
  rmSync(work, { recursive: true, force: true });
});

// PUT `body`; for an accepted config, the stored bytes (the draft as GET returns it, config last).
async function put(slug, body) {
  const res = await request(origin.base, 'PUT', `/v1/vendors/${slug}/config`, { token: tokens[slug], body });
  if (res.status !== 200) return { status: res.status, error: res.json?.error };
  const got = await fetch(`${origin.base}/v1/vendors/${slug}/config`, { headers: { authorization: `Bearer ${tokens[slug]}` } });
  const raw = new Uint8Array(await got.arrayBuffer());
  const marker = encoder.encode(',"config":');
  const start = Buffer.from(raw).indexOf(Buffer.from(marker)) + marker.length;
  return { status: 200, stored: raw.slice(start, raw.length - 1) };
}

test('a config with a byte order mark is refused at PUT, naming it', async () => {
  const res = await put('minimal', concat(bytes([0xef, 0xbb, 0xbf]), fixtures.minimal));
  assert.equal(res.status, 400);
  assert.equal(res.error.code, 'invalid_json');
  assert.match(res.error.message, /byte order mark/);
});

test(`every mutant the origin accepts loads at the edge (seed ${SEED}, ${MUTANTS} mutants)`, async (t) => {
  const target = targets.find((t) => t.name === 'emscripten');
  const engine = await engineFor(target);
  const random = mulberry32(SEED); // seeded, so that a failure can be replayed from its seed
  const tried = {};
  const refused = [];
  let accepted = 0;
  for (let n = 0; n < MUTANTS; n++) {
    const slug = SLUGS[n % SLUGS.length];
    const [kind, body] = mutate(fixtures[slug], random);
    const res = await put(slug, body);
    tried[kind] = (tried[kind] ?? 0) + 1;
    if (res.status !== 200) {
      assert.ok(res.status === 400 || res.status === 413, `mutant ${n} (${kind}): ${res.status}`);
      assert.equal(typeof res.error?.message, 'string');
      continue;
    }
    accepted++;
    const why = edgeRefusal(engine, res.stored, n + 1);
    if (why) refused.push(`mutant ${n} (${kind} of ${slug}): ${why}`);
  }
  t.diagnostic(`accepted ${accepted} of ${MUTANTS}; kinds ${JSON.stringify(tried)}`);
  assert.deepEqual(refused, [], `accepted by the origin, refused by an edge:\n${refused.join('\n')}`);
  // The mutations must leave some configs valid, or the property says nothing.
  assert.ok(accepted >= MUTANTS / 10, `only ${accepted} of ${MUTANTS} accepted: ${JSON.stringify(tried)}`);
  assert.ok(Object.keys(tried).length >= 10, `mutation kinds tried: ${JSON.stringify(tried)}`);
});
