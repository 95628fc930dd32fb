// Generated components end to end (docs/components.md): a real whale-origin registers definitions
// in a vendor's draft as experimental, deploys one as the arm of a new draft experiment, and asks a
// language model for one over the Anthropic Messages API, here a local stub server that speaks its
// request and response shapes (no test needs the network). The published config renders through
// the core, and the browser glue builds the template in headless Chromium (screenshot kept at
// build/storefront-generated-component.png).
//
// Env: WHALE_ORIGIN (the whale-origin binary), WHALE_CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createEngine } from '../../js-glue/index.js';
import { ORIGIN_BIN, REPO, addPrincipal, publish, readConfig, request, startOrigin, stop } from '../../scripts/stack.mjs';

const CHROMIUM = process.env.WHALE_CHROMIUM ?? '/usr/bin/chromium';
const SLUG = 'flora-distro';
const MODEL = 'claude-stub-1';
const KEY = 'sk-test-not-a-real-key';
const work = mkdtempSync(join(tmpdir(), 'whale-components-'));
const tokens = {};
let origin = null;
let offOrigin = null;

// --- the Messages API stub ------------------------------------------------------------------

const stub = { requests: [], answers: [] };
const stubServer = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    stub.requests.push({ method: req.method, url: req.url, headers: req.headers, body: JSON.parse(body || 'null') });
    const [status, answer] = stub.answers.shift() ?? [500, { type: 'error', error: { type: 'api_error', message: 'no answer queued' } }];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
});

// A Messages API message whose one text block is `text`.
const message = (text, stopReason = 'end_turn') => [200, {
  id: 'msg_stub_1', type: 'message', role: 'assistant', model: MODEL, content: [{ type: 'text', text }],
  stop_reason: stopReason, stop_sequence: null, usage: { input_tokens: 900, output_tokens: 300 },
}];

const PROMO = {
  kind: 'banner',
  description: 'A loyalty promo with a list of perks.',
  props: {
    type: 'object',
    properties: {
      headline: { type: 'string', default: 'Members save more' },
      cta: { type: 'string', default: 'Join free' },
      link: { type: 'string', default: '/rewards' },
      perks: { type: 'array', default: ['Free delivery', 'Early drops'], items: { type: 'string' } },
    },
  },
  template: {
    tag: 'div', class: 'wt-panel', children: [
      { tag: 'h2', class: 'wt-h2', text: '{{headline}}' },
      { tag: 'ul', children: [{ tag: 'li', each: 'perks', text: '{{item}}' }] },
      { tag: 'a', class: 'wt-button', href: '{{link}}', text: '{{cta}}' },
    ],
  },
};

before(async () => {
  assert.ok(existsSync(ORIGIN_BIN), `whale-origin not built at ${ORIGIN_BIN}`);
  await new Promise((r) => stubServer.listen(0, '127.0.0.1', r));
  const db = join(work, 'origin.db');
  tokens.vendor = addPrincipal('vendor', SLUG, db);
  const saved = { ...process.env };
  Object.assign(process.env, {
    ANTHROPIC_BASE_URL: `http://127.0.0.1:${stubServer.address().port}`, ANTHROPIC_MODEL: MODEL, ANTHROPIC_API_KEY: KEY,
  });
  try {
    origin = await startOrigin({ db, args: ['--reweight-every', '0'] });
  } finally {
    for (const k of ['ANTHROPIC_BASE_URL', 'ANTHROPIC_MODEL', 'ANTHROPIC_API_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  const offDb = join(work, 'off.db');
  tokens.off = addPrincipal('vendor', SLUG, offDb);
  offOrigin = await startOrigin({ db: offDb, args: ['--reweight-every', '0'] });
  await publish(origin.base, SLUG, tokens.vendor, readConfig(SLUG));
});

after(async () => {
  if (origin) await stop(origin.child);
  if (offOrigin) await stop(offOrigin.child);
  stubServer.close();
  rmSync(work, { recursive: true, force: true });
});

const post = (path, body, token = tokens.vendor, base = origin.base) => request(base, 'POST', `/v1/vendors/${SLUG}${path}`, { token, body });
const draft = async () => (await request(origin.base, 'GET', `/v1/vendors/${SLUG}/config`, { token: tokens.vendor })).json.config;

test('a definition is registered as experimental, versioned, and checked like any config', async () => {
  const first = await post('/components', { key: 'loyalty-perks', definition: PROMO });
  assert.equal(first.status, 201, first.text);
  assert.deepEqual([first.json.key, first.json.version, first.json.status, first.json.draft], ['loyalty-perks', 1, 'experimental', true]);
  const again = await post('/components', { key: 'loyalty-perks', definition: PROMO });
  assert.equal(again.json.version, 2, 'a new definition of the same key is its next version');
  const stored = (await draft()).components['loyalty-perks'];
  assert.equal(stored.status, 'experimental');
  assert.equal(stored.version, 2);

  const refused = [
    [{ key: 'hero-banner', definition: PROMO }, 400, 'components.hero-banner: a stable component of the vendor\'s; choose another key'],
    [{ key: 'bad', definition: { ...PROMO, template: { tag: 'p', text: '{{price}}' } } }, 400, 'components.bad.template.text: {{price}} is not a declared prop'],
    [{ key: 'bad', definition: { ...PROMO, template: { tag: 'script', text: 'alert(1)' } } }, 400, null],
    [{ key: 'bad', definition: { ...PROMO, template: { tag: 'div', style: 'color:red' } } }, 400, 'components.bad.template.style: not allowed: the theme styles templates, and they run no code'],
    [{ key: 'bad', definition: { props: PROMO.props } }, 400, 'definition.template: a generated component needs a template'],
    [{ key: 'bad', definition: { ...PROMO, props: { type: 'object', properties: { headline: { type: 'string', default: 7 } } }, template: { tag: 'p' } } }, 400, null],
    [{ key: 'bad key!', definition: PROMO }, 400, null],
    [{ key: 'bad' }, 400, 'definition: expected an object'],
  ];
  for (const [body, status, messageText] of refused) {
    const res = await post('/components', body);
    assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
    if (messageText) assert.equal(res.json.error.message, messageText);
  }
  assert.equal((await draft()).components.bad, undefined, 'nothing refused reaches the draft');
});

test('a registered component deploys as the treatment of a new draft experiment, which renders once published', async () => {
  const res = await post('/components/loyalty-perks/deploy', { page: 'home', section: 'trust', props: { headline: 'Flora Rewards' } });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.experiment, 'gen-loyalty-perks-v2');
  const config = await draft();
  const section = config.pages.find((p) => p.id === 'home').sections.find((s) => s.id === 'trust');
  assert.equal(section.feature, 'gen-loyalty-perks-v2');
  const [rule] = config.features['gen-loyalty-perks-v2'].rules;
  assert.equal(rule.status, 'draft', 'the vendor sets it running');
  assert.equal(rule.variations[0], null);
  assert.equal(rule.variations[1].components.at(-1).key, 'loyalty-perks');
  // One experiment per section; unknown places are 404s.
  assert.equal((await post('/components/loyalty-perks/deploy', { page: 'home', section: 'trust' })).status, 400);
  assert.equal((await post('/components/loyalty-perks/deploy', { page: 'home', section: 'nope' })).status, 404);
  assert.equal((await post('/components/nope/deploy', { page: 'home', section: 'assist' })).status, 404);

  // Published, the experiment is a draft (control for everyone); its treatment, forced, shows the
  // component with its template.
  const published = await request(origin.base, 'POST', `/v1/vendors/${SLUG}/revalidate`, { token: tokens.vendor, body: '' });
  assert.equal(published.status, 200, published.text);
  const engine = await createEngine();
  engine.loadConfig(config, 2);
  const control = engine.renderLayout(SLUG, 2, { page: 'home', attributes: { id: 'v1' }, now: 1751000000 });
  assert.equal(control.templates, undefined);
  const treated = engine.renderLayout(SLUG, 2, { page: 'home', attributes: { id: 'v1' }, now: 1751000000, forcedVariations: { 'gen-loyalty-perks-v2': 1 } });
  const instance = treated.sections.find((s) => s.id === 'trust').components.at(-1);
  assert.equal(instance.key, 'loyalty-perks');
  assert.equal(instance.props.headline, 'Flora Rewards');
  assert.deepEqual(instance.props.perks, ['Free delivery', 'Early drops'], 'defaults filled in');
  assert.deepEqual(treated.templates['loyalty-perks'], { version: 2, template: PROMO.template });
});

test('the generator asks the Messages API and puts the answer through the same checks', async () => {
  const before = stub.requests.length;
  const generated = { key: 'bundle-nudge', ...PROMO, template: { ...PROMO.template, class: 'wt-promo' } };
  stub.answers.push(message(`Here is the component:\n\`\`\`json\n${JSON.stringify(generated, null, 2)}\n\`\`\``));
  const res = await post('/components/generate', { brief: 'A banner that nudges cart bundles for members' });
  assert.equal(res.status, 201, res.text);
  assert.deepEqual([res.json.key, res.json.status, res.json.model], ['bundle-nudge', 'experimental', MODEL]);
  assert.equal(res.json.definition.template.class, 'wt-promo');
  assert.equal((await draft()).components['bundle-nudge'].status, 'experimental');
  // What the origin sent: the Messages API's request shape, the key in its header.
  const sent = stub.requests[before];
  assert.equal(sent.method, 'POST');
  assert.equal(sent.url, '/v1/messages');
  assert.equal(sent.headers['x-api-key'], KEY);
  assert.equal(sent.headers['anthropic-version'], '2023-06-01');
  assert.match(sent.headers['content-type'], /^application\/json/);
  assert.equal(sent.body.model, MODEL);
  assert.ok(Number.isInteger(sent.body.max_tokens) && sent.body.max_tokens > 0);
  assert.match(sent.body.system, /wt-panel/);
  assert.match(sent.body.system, /\{\{name\}\}/);
  assert.equal(sent.body.messages.length, 1);
  assert.equal(sent.body.messages[0].role, 'user');
  const prompt = sent.body.messages[0].content;
  assert.match(prompt, /A banner that nudges cart bundles for members/);
  assert.match(prompt, /- hero-banner/, 'the registry');
  assert.match(prompt, /- loyalty-perks \(banner\): props headline cta link perks/);
  assert.match(prompt, /#1f3d2b/, 'the vendor\'s theme');

  const refusals = [
    [message(JSON.stringify({ key: 'sneaky', ...PROMO, template: { tag: 'p', text: 'Only {{price}}!' } })), 422, 'refused',
      'the generated component breaks the rules: components.sneaky.template.text: {{price}} is not a declared prop'],
    [message(JSON.stringify({ key: 'styled', ...PROMO, template: { tag: 'div', onclick: 'steal()' } })), 422, 'refused',
      'the generated component breaks the rules: components.styled.template.onclick: not allowed: the theme styles templates, and they run no code'],
    [message('I cannot help with that.', 'refusal'), 422, 'refused', 'the model refused the brief'],
    [message('Sure! I would make a nice banner.'), 422, 'refused', 'the model\'s answer holds no JSON object'],
    [message('{"key": "cut", "template": {"tag"', 'max_tokens'), 422, 'refused', 'the model\'s answer was cut off (max_tokens)'],
    [[529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }], 502, 'generator_failed', 'the model answered HTTP 529: Overloaded'],
    [[200, { hello: 'world' }], 502, 'generator_failed', 'the model\'s answer is not a Messages API message'],
  ];
  for (const [answer, status, code, text] of refusals) {
    stub.answers.push(answer);
    const r = await post('/components/generate', { brief: 'anything' });
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.error.code, code);
    assert.equal(r.json.error.message, text);
  }
  const components = (await draft()).components;
  assert.equal(components.sneaky, undefined);
  assert.equal(components.styled, undefined);
  for (const bad of [{}, { brief: '' }, { brief: 'x'.repeat(2001) }, { brief: 7 }]) {
    const r = await post('/components/generate', bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
  // Without ANTHROPIC_API_KEY and ANTHROPIC_MODEL the generator is off, and says so.
  const off = await post('/components/generate', { brief: 'a banner' }, tokens.off, offOrigin.base);
  assert.equal(off.status, 503, off.text);
  assert.equal(off.json.error.code, 'generator_off');
  // Another vendor's token cannot register into this vendor's draft.
  assert.equal((await post('/components', { key: 'x', definition: PROMO }, tokens.off)).status, 401);
});

test('the storefront builds a generated component from its template in Chromium, as data', { timeout: 120_000 }, async (t) => {
  const config = await draft();
  config.components['loyalty-perks'].template.children.push(
    { tag: 'p', class: 'wt-muted', text: '<img src=x onerror=alert(1)> {{headline}}' },
    { tag: 'a', href: '{{link}}', text: 'hostile link' },
  );
  const engine = await createEngine();
  engine.loadConfig(config, 3);
  const layout = engine.renderLayout(SLUG, 3, {
    page: 'home', attributes: { id: 'v1', ageVerified: true }, now: 1751000000, forcedVariations: { 'gen-loyalty-perks-v2': 1 },
  });
  layout.sections.find((s) => s.id === 'trust').components.at(-1).props.link = 'javascript:alert(1)';
  const files = { '/js-glue/browser.js': 'browser.js', '/js-glue/image-url.js': 'image-url.js' };
  const server = createServer((req, res) => {
    if (files[req.url]) {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(readFileSync(join(REPO, 'js-glue', files[req.url])));
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><meta charset="utf-8"><style id="css"></style><main id="page"></main>
<script type="module">
import { STOREFRONT_CSS, renderStorefront } from '/js-glue/browser.js';
document.getElementById('css').textContent = STOREFRONT_CSS;
document.getElementById('page').append(renderStorefront(${JSON.stringify(layout)}).node);
document.body.dataset.ready = 'true';
</script>`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  const dialogs = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForSelector('body[data-ready]');
  const seen = await page.evaluate(() => {
    const node = document.querySelector('[data-key="loyalty-perks"]');
    return {
      generated: node?.dataset.generated,
      headline: node?.querySelector('h2')?.textContent,
      perks: [...(node?.querySelectorAll('li') ?? [])].map((li) => li.textContent),
      links: [...(node?.querySelectorAll('a') ?? [])].map((a) => a.getAttribute('href')),
      muted: node?.querySelector('.wt-muted')?.textContent,
      injected: node?.querySelectorAll('img, script, [onerror], [onclick], [style]').length,
      primary: getComputedStyle(node?.querySelector('.wt-button')).backgroundColor,
    };
  });
  assert.equal(seen.generated, '2');
  assert.equal(seen.headline, 'Flora Rewards');
  assert.deepEqual(seen.perks, ['Free delivery', 'Early drops']);
  assert.deepEqual(seen.links, ['#', '#'], 'a javascript: prop becomes "#"');
  assert.equal(seen.muted, '<img src=x onerror=alert(1)> Flora Rewards', 'markup in a template is text');
  assert.equal(seen.injected, 0);
  assert.equal(seen.primary, 'rgb(224, 165, 38)', 'styled by the vendor\'s theme (its accent, #e0a526)');
  await page.waitForTimeout(200);
  assert.deepEqual(dialogs, []);
  assert.deepEqual(errors, []);
  mkdirSync(join(REPO, 'build'), { recursive: true });
  await page.locator('[data-key="loyalty-perks"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(REPO, 'build', 'storefront-generated-component.png'), fullPage: true });
});
