// URL targeting (urlPatterns) and URL redirects against the real GrowthBook JS SDK: random page
// URLs, simple and regex patterns and redirect experiments go through `GrowthBook#run` and
// `GrowthBook#getRedirectUrl` (@growthbook/growthbook from npm) and through our core natively
// (the CLI) and in both wasm builds; every answer must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrowthBook } from '@growthbook/growthbook';
import { targets, engineFor, nativeCli } from './targets.mjs';

const RUNS = 2000;
const REDIRECTS = 1000;

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hosts = ['www.example.com', 'WWW.Example.COM', 'shop.example.com', 'example.com', '127.0.0.1', '[::1]', 'xn--caf-dma.fr', 'café.fr'];
const ports = ['', '', '', ':80', ':443', ':8080'];
const paths = ['', '/', '/home', '/home/', '/Home', '/home-new', '/products/123', '/products/abc/', '/a/b/../c', '/a/./b',
  '/%7Euser', '/caf%C3%A9', '/café', '/a b', '/blog/2024/post', '/home/index.html', '//double'];
const queries = ['', '', '?', '?a=1', '?color=blue&food=sushi', '?color=red', '?x=a+b', '?q=%20z', '?A=1&a=2', '?food=sushi&color=blue&title=x',
  '?utm_source=mail&color=blue', '?ü=ö'];
const hashes = ['', '', '#', '#top', '#Top', '#a b'];
const oddUrls = ['', 'not a url', '/home?color=blue', 'home', '//www.example.com/home', 'http:/www.example.com/home', 'javascript:alert(1)',
  'https://user:pw@www.example.com/home', 'http://www.example.com:99999/', 'https://exa mple.com/', 'HTTP://WWW.EXAMPLE.COM/Home',
  'https://0x7f.1/home', 'http://1.2.3/x', 'http://[2001:db8:0:0:1:0:0:1]:8080/p', 'http://[::ffff:1.2.3.4]/', 'https://www.example.com\\home\\x',
  'https://www.example.com/a/%2e%2E/b/%2e/c', 'https://u%40x:p:w@host.com/', ' \thttps://www.example.com/ho\nme ', 'foo://Host/Path?q#h',
  'mailto:a@b.c', 'https://example.com./home', 'https://ex%41mple.com/', 'https://www.example.com/?a=%zz&b=%41', 'https://example.com:0443/',
  'file:///etc/hosts', 'https://www.example.com/path?q=1#frag#more', 'https://Ünïcode.example/ä?ö=ü#ß', 'https://1.2.3.4.5/', 'https://0x100000000/'];

const simplePatterns = ['http://www.example.com/home', 'https://www.example.com/home', 'www.example.com/home', 'example.com', 'www.example.com',
  '*.example.com', '*.example.com/*', '/home', '/home/', '/home/*', '/products/*', '/products/*/', 'https://*/home?color=blue',
  '?color=*', '/home?color=blue', '#top', '/home#*', '*', '', 'shop.example.com/*', 'http://www.example.com/home?food=sushi&color=blue',
  '/HOME', '/café', '/caf%C3%A9', '127.0.0.1', 'http://www.example.com:8080/*', '/a/c', '/*/123', 'www.example.com/home?x=a b',
  'http://*.example.com', '/blog/_____/post', 'example.com/home/index.html', '/%7euser'];
const regexPatterns = ['^https?://www\\.example\\.com/home', '/home$', 'example\\.com/products/\\d+', 'color=blue', '^/home', '(', '[a-',
  '\\/home\\/?$', 'home', '^/products/[0-9]+$', 'HOME', '#top$', '^https://', 'example.com/', '.*', '^/$', 'a/b', 'caf%C3%A9'];

function makeUrl(r) {
  if (r() < 0.08) return oddUrls[Math.floor(r() * oddUrls.length)];
  const pick = (list) => list[Math.floor(r() * list.length)];
  const scheme = r() < 0.5 ? 'http://' : 'https://';
  return scheme + pick(hosts) + pick(ports) + pick(paths) + pick(queries) + pick(hashes);
}

function makePatterns(r) {
  const n = 1 + Math.floor(r() * 3);
  const out = [];
  for (let i = 0; i < n; i++) {
    const regex = r() < 0.3;
    const list = regex ? regexPatterns : simplePatterns;
    const target = { type: regex ? 'regex' : 'simple', pattern: list[Math.floor(r() * list.length)] };
    const include = r();
    if (include < 0.6) target.include = true;
    else if (include < 0.8) target.include = false;
    out.push(target);
  }
  return out;
}

function parsedHref(url) {
  try {
    return new URL(url, 'https://_').href;
  } catch {
    return null;
  }
}

function runCases() {
  const r = rng(14);
  const cases = [];
  for (let i = 0; i < RUNS; i++) {
    const context = { attributes: { id: `u${i}` }, url: makeUrl(r) };
    const experiment = { key: `exp-${i % 7}`, variations: [0, 1], urlPatterns: makePatterns(r) };
    // The parsed URL itself as an anchored regex: our href must be the SDK's, byte for byte.
    const href = parsedHref(context.url);
    if (href && r() < 0.25) experiment.urlPatterns = [{ type: 'regex', pattern: `^${href.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$` }];
    cases.push({ context, experiment });
  }
  return cases;
}

const redirectTargets = ['http://www.example.com/home-new', 'https://www.example.com/home-new?color=red&name=test', 'https://other.example/landing',
  'http://www.example.com/home', '/relative', 'https://www.example.com/x?a=1&a=2', 'https://www.example.com/s?q=a%20b+c', 'not a url'];

function redirectCases() {
  const r = rng(1414);
  const pick = (list) => list[Math.floor(r() * list.length)];
  const cases = [];
  for (let i = 0; i < REDIRECTS; i++) {
    const experiments = [];
    const n = 1 + Math.floor(r() * 3);
    for (let k = 0; k < n; k++) {
      const variations = [{}, { urlRedirect: pick(redirectTargets) }];
      if (r() < 0.3) variations.push({ urlRedirect: pick(redirectTargets) });
      const broad = [{ type: 'simple', include: true, pattern: pick(['/home', '/home/*', 'www.example.com/home', '/products/*', '*.example.com/home', '*']) }];
      const exp = { key: `redirect-${k}`, urlPatterns: r() < 0.6 ? broad : makePatterns(r), variations };
      if (r() < 0.5) exp.persistQueryString = true;
      if (r() < 0.1) exp.manual = true;
      if (r() < 0.1) exp.variations = [{}, { css: 'body{}' }];
      experiments.push(exp);
    }
    const page = r() < 0.5 ? `${pick(['http', 'https'])}://www.example.com${pick(['/home', '/home/', '/products/1'])}${pick(queries)}` : makeUrl(r);
    cases.push({ attributes: { id: `r${i}` }, url: page, experiments });
  }
  return cases;
}

// What the SDK answers, with its console noise (bad regexes, bad URLs) kept quiet.
function quietly(fn) {
  const { error, log } = console;
  console.error = () => {};
  console.log = () => {};
  try {
    return fn();
  } finally {
    console.error = error;
    console.log = log;
  }
}

function sdkRun({ context, experiment }) {
  return quietly(() => {
    const r = new GrowthBook(structuredClone(context)).run(structuredClone(experiment));
    return { inExperiment: r.inExperiment, variationId: r.variationId, value: r.value };
  });
}

function sdkRedirect(context) {
  return quietly(() => new GrowthBook(structuredClone(context)).getRedirectUrl() || null);
}

const runs = runCases();
const redirects = redirectCases();
const wantRuns = runs.map(sdkRun);
const wantRedirects = redirects.map(sdkRedirect);
if (process.env.DEBUG_URL) console.log(wantRedirects.filter(Boolean).length, wantRedirects.filter(Boolean).slice(0, 5));

function compare(label, gotRuns, gotRedirects) {
  let bad = 0;
  const first = [];
  gotRuns.forEach((got, i) => {
    try {
      assert.deepEqual(got, wantRuns[i]);
    } catch {
      bad++;
      if (first.length < 5) first.push(`run ${JSON.stringify(runs[i])}: got ${JSON.stringify(got)} want ${JSON.stringify(wantRuns[i])}`);
    }
  });
  gotRedirects.forEach((got, i) => {
    if (got !== wantRedirects[i]) {
      bad++;
      if (first.length < 10) first.push(`redirect ${JSON.stringify(redirects[i])}: got ${got} want ${wantRedirects[i]}`);
    }
  });
  console.log(`url targeting vs @growthbook/growthbook (${label}): ${RUNS + REDIRECTS - bad}/${RUNS + REDIRECTS}`);
  assert.equal(bad, 0, first.join('\n'));
}

test('the SDK is exercised: some runs enroll, some are targeted out, some redirect', () => {
  assert.ok(wantRuns.filter((r) => r.inExperiment).length > RUNS / 10);
  assert.ok(wantRuns.filter((r) => !r.inExperiment).length > RUNS / 10);
  assert.ok(wantRedirects.filter(Boolean).length > REDIRECTS / 20);
  assert.ok(wantRedirects.some((u) => u && u.includes('&')), 'some redirects merge query strings');
});

test('native core agrees with the SDK', (t) => {
  if (!existsSync(nativeCli)) return t.skip(`native CLI missing at ${nativeCli}`);
  const dir = mkdtempSync(join(tmpdir(), 'whale-url-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'requests.jsonl');
  const lines = [
    ...runs.map((request) => JSON.stringify({ op: 'run', request })),
    ...redirects.map((context) => JSON.stringify({ op: 'urlRedirect', request: { context } })),
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  const out = spawnSync(nativeCli, ['batch', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(out.status, 0, out.stderr);
  const answers = out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).ok);
  const gotRuns = answers.slice(0, RUNS).map(({ result: r }) => ({ inExperiment: r.inExperiment, variationId: r.variationId, value: r.value }));
  const gotRedirects = answers.slice(RUNS).map(({ result }) => result.redirect);
  compare('native', gotRuns, gotRedirects);
});

for (const target of targets) {
  test(`${target.name} core agrees with the SDK`, async () => {
    const engine = await engineFor(target);
    const gotRuns = runs.map(({ context, experiment }) => {
      const r = engine.run(experiment, context);
      return { inExperiment: r.inExperiment, variationId: r.variationId, value: r.value };
    });
    const gotRedirects = redirects.map((context) => engine.urlRedirect(context).redirect);
    compare(target.name, gotRuns, gotRedirects);
  });
}
