// Live updates (issue 12 §5): one Durable Object per vendor page holds the WebSocket of every
// browser showing that page and broadcasts the transforms posted for it.
//
//   GET  /v1/live/<slug>/<page>  Upgrade: websocket -> the page's LivePage (426 without the upgrade)
//   POST /v1/live/<slug>/<page>  the edge token; body a transform (below), broadcast to the page:
//                                200 {page, delivered, connections}
//
// A transform tells the browsers of the page which section to swap and why:
//   {"section"?: "<section id>", "reason": "vendor" | "schedule" | "behaviour",
//    "version"?: <config version>, "components"?: [{id, key, props?}, ...]}
// No section: every section that changed. version: re-fetch until the layout is at least that
// version. components: the section's new content, swapped in without a re-fetch (content that is
// the same for every visitor of the page). Browsers get it as {"type": "transform", ...it, "at"}.
//
// The sockets use the hibernation API: the object is evicted from memory between broadcasts while
// its sockets stay open, so an idle page costs nothing; the runtime answers the glue's "ping" with
// "pong" without waking it. Browsers only listen: any other message closes their socket.

import { DurableObject } from 'cloudflare:workers';
import { HttpError, bearerMatches, isObject, json, methodNotAllowed, parseJsonBody, readBodyText } from './http.js';
import { slugAndPage } from './storefront.js';

export const LIVE_ROUTE = '/v1/live/';
const MAX_TRANSFORM_BYTES = 16 * 1024; // a POST body; what is broadcast is no larger
const DEFAULT_MAX_CONNECTIONS = 1000; // per page (LIVE_MAX_CONNECTIONS); Cloudflare allows ~32k per object
const MAX_COMPONENTS = 64;
const SECTION_ID = /^[A-Za-z0-9_.:-]{1,128}$/; // docs/config.md: section and instance ids
const REASONS = new Set(['vendor', 'schedule', 'behaviour']);
const CLOSE_POLICY = 1008; // RFC 6455: a message the endpoint does not accept
const KEEPALIVE = ['ping', 'pong'];

function maxConnections(env) {
  const n = Number(env?.LIVE_MAX_CONNECTIONS ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_MAX_CONNECTIONS;
}

function invalid(message) {
  return new HttpError(400, 'invalid_value', message);
}

// The transform a POST body holds, checked; throws a 400 HttpError naming the first problem.
export function readTransform(text) {
  const body = parseJsonBody(text);
  if (!isObject(body)) throw new HttpError(400, 'wrong_type', 'request body: expected a transform object');
  const known = new Set(['section', 'reason', 'version', 'components']);
  const unknown = Object.keys(body).find((k) => !known.has(k));
  if (unknown !== undefined) throw invalid(`${unknown}: not a member of a transform`);
  const { section, reason, version, components } = body;
  if (!REASONS.has(reason)) throw invalid('reason: expected "vendor", "schedule" or "behaviour"');
  if (section !== undefined && !(typeof section === 'string' && SECTION_ID.test(section))) {
    throw invalid('section: expected a section id (1-128 of A-Z a-z 0-9 _ - . :)');
  }
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 0)) {
    throw invalid('version: expected an integer >= 0');
  }
  if (components !== undefined) {
    if (section === undefined) throw invalid('components: only with a section');
    if (!Array.isArray(components) || components.length > MAX_COMPONENTS) {
      throw invalid(`components: expected an array of at most ${MAX_COMPONENTS}`);
    }
    components.forEach((c, i) => {
      if (!isObject(c) || !SECTION_ID.test(c.id ?? '') || typeof c.key !== 'string' || c.key.length === 0 ||
        (c.props !== undefined && !isObject(c.props))) {
        throw invalid(`components[${i}]: expected {"id": instance id, "key": string, "props"?: object}`);
      }
    });
  }
  return {
    reason,
    ...(section === undefined ? {} : { section }),
    ...(version === undefined ? {} : { version }),
    ...(components === undefined ? {} : { components }),
  };
}

function liveStub(env, slug, page) {
  if (!env?.LIVE) {
    throw new HttpError(501, 'live_unavailable', 'this edge has no LIVE Durable Object binding: live updates are off');
  }
  return env.LIVE.get(env.LIVE.idFromName(`${slug}/${page}`));
}

// GET /v1/live/<slug>/<page>: hands the upgrade to the page's object.
function connect(request, env, slug, page) {
  if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
    throw new HttpError(426, 'upgrade_required', 'expected a WebSocket upgrade (Upgrade: websocket)', { Upgrade: 'websocket' });
  }
  return liveStub(env, slug, page).fetch(request);
}

// POST /v1/live/<slug>/<page> with the edge token: checks the transform and broadcasts it.
async function post(request, env, slug, page) {
  const stub = liveStub(env, slug, page);
  if (!(await bearerMatches(request.headers.get('Authorization'), env.EDGE_TOKEN))) {
    throw new HttpError(401, 'unauthorized', 'missing or wrong edge token', { 'WWW-Authenticate': 'Bearer' });
  }
  const transform = readTransform(await readBodyText(request, MAX_TRANSFORM_BYTES));
  const { delivered, connections } = await stub.broadcast(transform);
  return json(200, { page: `${slug}/${page}`, delivered, connections });
}

// /v1/live/<slug>/<page>: a browser's socket (for a vendor this edge serves), or a transform
// posted with the edge token (checked before anything else is read). edge: the worker's Edge.
export async function liveRoute(edge, request, url, ctx) {
  const [slug, page] = slugAndPage(url.pathname, LIVE_ROUTE, edge.vendors.slugPattern);
  if (request.method === 'POST') return post(request, edge.env, slug, page);
  if (request.method !== 'GET') throw methodNotAllowed('GET, POST');
  await edge.vendors.layoutConfig(slug, ctx); // an unknown vendor is a 404, not an object
  return connect(request, edge.env, slug, page);
}

export class LivePage extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    // Answered by the runtime, without waking the object: the glue's keepalive.
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(...KEEPALIVE));
  }

  // The upgrade, forwarded by connect(): 101 with the browser's end, or 503 when the page already
  // holds its maximum of sockets.
  async fetch(request) {
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      return json(426, { error: { code: 'upgrade_required', message: 'expected a WebSocket upgrade' } }, { Upgrade: 'websocket' });
    }
    const limit = maxConnections(this.env);
    if (this.ctx.getWebSockets().length >= limit) {
      return json(503, { error: { code: 'too_many_connections', message: `this page holds its ${limit} live connections` } },
        { 'Retry-After': '30' });
    }
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ since: Date.now() });
    return new Response(null, { status: 101, webSocket: client });
  }

  // Called by post() over RPC with a checked transform: sends it to every open socket.
  broadcast(transform) {
    const text = JSON.stringify({ type: 'transform', ...transform, at: Date.now() });
    if (text.length > 2 * MAX_TRANSFORM_BYTES) throw new Error('transform over its bound');
    const sockets = this.ctx.getWebSockets();
    let delivered = 0;
    for (const ws of sockets) {
      try {
        ws.send(text);
        delivered++;
      } catch {
        // closing or closed: its webSocketClose cleans up
      }
    }
    return { delivered, connections: sockets.length };
  }

  // Browsers only listen ("ping" is answered before it gets here).
  webSocketMessage(ws) {
    ws.close(CLOSE_POLICY, 'this socket only receives transforms');
  }

  webSocketClose(ws, code) {
    // 1005 (no code) and 1006 (abnormal) may not be sent back.
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, 'closed');
    } catch {
      // already closed
    }
  }

  webSocketError(ws) {
    try {
      ws.close(1011, 'socket error');
    } catch {
      // already closed
    }
  }
}
