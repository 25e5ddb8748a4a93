// SPDX-License-Identifier: MIT
// The official OpenAI Node SDK, unmodified, pointed at sluice: buffered, streamed, a refusal,
// and a stream the upstream cuts.  Prints one JSON object for the C test to check.
// Usage: node sdk_check.mjs BASE_URL SCENARIO
import OpenAI from 'openai';
import { createParser } from 'eventsource-parser';

const [baseURL, scenario] = process.argv.slice(2);
// The tenant's key, as the C test configures it.
const TENANT_KEY = 'sk-sluice-tenant';
// 'budget' keeps the SDK's own retry policy (2 retries): the gateway must tell it not to.
const client = new OpenAI({ apiKey: TENANT_KEY, baseURL,
                            maxRetries: scenario === 'budget' ? 2 : 0, timeout: 20000 });
const out = {};
const messages = [{ role: 'user', content: 'hello from the sdk' }];

try {
  if (scenario === 'buffered') {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    out.content = r.choices[0].message.content;
    out.finish_reason = r.choices[0].finish_reason;
    out.total_tokens = r.usage.total_tokens;
  } else if (scenario === 'stream' || scenario === 'cut') {
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages });
    out.content = '';
    out.chunks = 0;
    for await (const c of s) {
      out.chunks++;
      out.content += c.choices[0]?.delta?.content ?? '';
      if (c.usage) out.usage_chunk = true;
    }
    out.completed = true;
  } else if (scenario === 'eventsource') {
    // /api/chat/stream read the way a browser's EventSource reads it: eventsource-parser is
    // an independent implementation of the WHATWG algorithm, fed whatever pieces arrive.
    const res = await fetch(baseURL.replace(/\/v1$/, '/api/chat/stream'), {
      method: 'POST', headers: { 'Content-Type': 'application/json',
                                 Authorization: `Bearer ${TENANT_KEY}` },
      body: JSON.stringify({ user_message: 'line one\nline two' }) });
    out.status = res.status;
    out.content_type = res.headers.get('content-type');
    out.events = [];
    const parser = createParser({ onEvent: (e) => out.events.push({ event: e.event ?? 'message', data: e.data }) });
    const dec = new TextDecoder();
    for await (const piece of res.body)
      parser.feed(dec.decode(piece, { stream: true }));
    out.completed = true;
  } else if (scenario === 'budget') {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    out.completed = true;
  } else if (scenario === 'refused') {
    await client.chat.completions.create({ model: 'gpt-nope', messages });
    out.completed = true;
  }
} catch (e) {
  out.error = { class: e.constructor.name, status: e.status ?? null, code: e.code ?? null,
                type: e.type ?? null, message: String(e.message) };
}
console.log(JSON.stringify(out));
