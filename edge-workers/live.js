// Live updates (issue 12 §5): one Durable Object per vendor page. Work in progress.
import { DurableObject } from 'cloudflare:workers';

export class LivePage extends DurableObject {
  async fetch() {
    return new Response(JSON.stringify({ error: { code: 'not_implemented', message: 'live updates are not built yet' } }), {
      status: 501, headers: { 'Content-Type': 'application/json' },
    });
  }
}
