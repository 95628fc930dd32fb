// The demo storefront: fetches /v1/storefront/<slug>/<page> for the slug and page in this page's
// path (/demo/<slug>/<page>) and renders it as a shop (the browser glue's renderStorefront; the
// cart buttons report conversions), or with ?debug=1 every section and component as a block of
// its key and props; reports the layout's assignments as exposures, summarizes behaviour into the
// whale_bx cookie and swaps the sections live updates change (connectLive).
import {
  STOREFRONT_CSS, connectLive, fetchCandidates, fetchLayout, mountCandidates, renderStorefront, startBehaviour,
  trackConversion, trackExposure,
} from '/js-glue/browser.js';

const [slug, page] = location.pathname.split('/').slice(2).map(decodeURIComponent);
const query = new URLSearchParams(location.search);
const debug = query.get('debug') === '1';
query.delete('debug');
// ?candidates=K: a multi-variant page (the first shown, one kept after watching the visit for
// the page's watch time, or ?watch=<ms>).
const candidateCount = query.has('candidates') ? Number(query.get('candidates')) : 0;
const watchMs = query.has('watch') ? Number(query.get('watch')) : undefined;
query.delete('candidates');
query.delete('watch');
const attributes = Object.fromEntries(query);
// The image widths each fixture vendor's media.widths allows (the edge refuses others).
const IMAGE_WIDTHS = { 'flora-distro': [320, 640, 960, 1280], 'green-harbor': [320, 480, 800, 1200] };

function element(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function propValue(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// A product list ({sku, name, price, ...}[]) as one line per product; prices are marked so the
// behaviour summary counts hovers on them.
function products(list) {
  return element('ul', { class: 'products' }, list.map((p) => element('li', { 'data-sku': p.sku ?? '' }, [
    `${p.name ?? p.sku} `,
    element('span', { class: 'price', 'data-price': '', text: typeof p.price === 'number' ? `$${p.price.toFixed(2)}` : '' }),
    p.urgency && p.urgency !== 'low' ? element('span', { class: 'urgency', text: ` ${p.urgency}` }) : '',
  ])));
}

function propRows(props) {
  return Object.entries(props ?? {}).flatMap(([name, value]) => {
    const isProducts = Array.isArray(value) && value.length > 0 && value.every((p) => p && typeof p === 'object' && 'price' in p);
    const dd = isProducts ? element('dd', {}, [products(value)]) : element('dd', { text: propValue(value) });
    return [element('dt', { text: name }), dd];
  });
}

function block(component) {
  const children = [element('span', { class: 'key', text: component.key }), element('span', { class: 'id', text: component.id })];
  if (Object.keys(component.props ?? {}).length > 0) children.push(element('dl', {}, propRows(component.props)));
  if (/cart/.test(component.key)) children.push(element('button', { type: 'button', 'data-cart-add': '', text: 'Add to cart' }));
  return element('div', { class: 'block', 'data-component': component.id, 'data-key': component.key }, children);
}

function sectionNode(section) {
  return element('section', { class: 'layout-section', 'data-section': section.id },
    [element('h2', { text: section.id }), ...section.components.map(block)]);
}

let cartItems = 0;

// The shop view: the cart buttons count into the header's cart and report a conversion for each
// experiment that shaped the page.
function shopOptions(assignments) {
  return {
    imageWidths: IMAGE_WIDTHS[slug],
    onAddToCart: (product) => {
      cartItems++;
      for (const node of document.querySelectorAll('[data-cart-count]')) node.textContent = `Cart (${cartItems})`;
      for (const a of assignments()) {
        if (a.inExperiment) trackConversion({ experiment: a.experiment, variation: a.variation, value: product.price });
      }
    },
  };
}

function renderShop(layout) {
  const main = document.getElementById('page');
  const shop = renderStorefront(layout, shopOptions(() => layout.assignments ?? []));
  main.replaceChildren(shop.node);
  return shop.renderSection;
}

// A multi-variant page: every candidate rendered, the first shown; the edge chooses after the
// watch and the page switches in place. Conversions count for the layout kept.
async function renderCandidates() {
  const answer = await fetchCandidates(slug, page, { attributes, count: candidateCount });
  let controller;
  const options = shopOptions(() => controller.assignments());
  controller = mountCandidates(answer, {
    render: (layout) => renderStorefront(layout, options).node,
    watchMs: watchMs ?? answer.watchMs,
    onChoice: (choice) => {
      status.textContent = `kept ${choice.name} (visit: ${choice.visit.join(', ') || 'no state'})`;
      document.body.dataset.choice = choice.name;
    },
  });
  document.getElementById('page').replaceChildren(controller.node);
  document.body.dataset.candidates = answer.candidates.map((c) => c.name).join(',');
  return controller;
}

function render(layout) {
  const main = document.getElementById('page');
  main.replaceChildren(...layout.sections.map(sectionNode));
  if (layout.dropped?.length > 0) {
    main.append(element('aside', { class: 'dropped', text: `not shown: ${layout.dropped.map((d) => `${d.id} (${d.reason})`).join(', ')}` }));
  }
}

document.getElementById('storefront-css').textContent = STOREFRONT_CSS;
const status = document.getElementById('status');
document.getElementById('where').textContent = `${slug}/${page}`;
startBehaviour();
try {
  if (candidateCount > 0 && !debug) {
    document.body.classList.add('shop');
    const controller = await renderCandidates();
    const layout = controller.current();
    for (const a of layout.assignments ?? []) {
      if (a.inExperiment) trackExposure({ experiment: a.experiment, variation: a.variation });
    }
    status.textContent = `version ${layout.version}, ${document.body.dataset.candidates}: watching`;
    document.body.dataset.ready = 'true';
    performance.mark('storefront-ready');
    controller.chosen.catch((e) => {
      status.textContent = `choice: ${e.code ?? 'error'}: ${e.message}`;
      document.body.dataset.choice = 'error';
    });
  } else {
    const layout = await fetchLayout(slug, page, { attributes });
    let renderSection = sectionNode;
    if (debug) render(layout);
    else {
      document.body.classList.add('shop');
      renderSection = renderShop(layout);
    }
    for (const a of layout.assignments ?? []) {
      if (a.inExperiment) trackExposure({ experiment: a.experiment, variation: a.variation });
    }
    status.textContent = `version ${layout.version}, ${layout.sections.length} sections`;
    document.body.dataset.ready = 'true';
    performance.mark('storefront-ready'); // the page is rendered and its buttons work (bench/storefront-page.bench.mjs)
    // Live updates: sections the vendor, a schedule or this visit's behaviour changes are swapped.
    connectLive({
      slug, page, attributes, layout, render: renderSection,
      onStatus: (state) => { document.body.dataset.live = state; },
      onUpdate: ({ reason, sections, error }) => {
        status.textContent = error ? `live: ${error.message}` : `live: ${sections.join(', ')} updated (${reason})`;
      },
    });
  }
} catch (e) {
  status.textContent = `${e.code ?? 'error'}: ${e.message}`;
  status.className = 'error';
  document.body.dataset.ready = 'error';
}
