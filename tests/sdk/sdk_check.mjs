// SPDX-License-Identifier: MIT
// The official OpenAI Node SDK, unmodified, pointed at sluice: chat buffered and streamed, the
// Responses API (create, stream, retrieve, input items, delete, another tenant's id), a stream
// the upstream cuts, embeddings, models and refusals.  Prints one JSON object for the C test.
// Usage: node sdk_check.mjs BASE_URL SCENARIO
import OpenAI from 'openai';
import { createParser } from 'eventsource-parser';

const [baseURL, scenario] = process.argv.slice(2);
// The two tenants' keys, as the C test configures them: "other" may use gpt-4o-mini only.
const TENANT_KEY = 'sk-sluice-tenant';
const OTHER_KEY = 'sk-sluice-other';
// 'budget' keeps the SDK's own retry policy (2 retries): the gateway must tell it not to.
const sdk = (apiKey) => new OpenAI({ apiKey, baseURL, maxRetries: scenario === 'budget' ? 2 : 0,
                                     timeout: 20000 });
const client = sdk(TENANT_KEY);
const other = sdk(OTHER_KEY);
const out = {};
const messages = [{ role: 'user', content: 'hello from the sdk' }];
const input = 'hello from the sdk';

const describe = (e) => ({ class: e.constructor.name, api_error: e instanceof OpenAI.APIError,
                           status: e.status ?? null, code: e.code ?? null, type: e.type ?? null,
                           param: e.param ?? null, message: String(e.message) });

// The error a call throws, described, or null when it did not throw.
async function thrown(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return describe(e);
  }
}

// A Response's text as the SDK's output_text builds it; retrieve does not add output_text.
const textOf = (r) => r.output.filter((o) => o.type === 'message')
  .flatMap((o) => o.content).filter((c) => c.type === 'output_text').map((c) => c.text).join('');

async function responseStream() {
  const s = await client.responses.create({ model: 'gpt-4o-mini', input, stream: true });
  out.stream_opened = true;
  out.types = [];
  out.sequence_numbers = [];
  out.text = '';
  for await (const ev of s) {
    out.types.push(ev.type);
    out.sequence_numbers.push(ev.sequence_number ?? null);
    if (ev.type === 'response.created') out.id = ev.response.id;
    if (ev.type === 'response.output_text.delta') out.text += ev.delta;
    if (ev.type === 'response.completed') {
      out.completed_id = ev.response.id;
      out.total_tokens = ev.response.usage?.total_tokens ?? null;
    }
  }
  out.completed = true;
}

async function responsesLifecycle() {
  const r = await client.responses.create({ model: 'gpt-4o-mini', input });
  out.id = r.id;
  out.text = r.output_text;
  out.status = r.status;
  out.total_tokens = r.usage.total_tokens;
  const again = await client.responses.retrieve(r.id);
  out.retrieved = { id: again.id, text: textOf(again) };
  if (client.responses.inputItems) {
    out.input_items = [];
    for await (const item of client.responses.inputItems.list(r.id))
      out.input_items.push({ type: item.type, role: item.role,
                             text: item.content?.map((c) => c.text).join('') });
  }
  // Another tenant must not see, list or delete it; its owner still can afterwards.
  out.other_retrieve = await thrown(other.responses.retrieve(r.id));
  if (other.responses.inputItems)
    out.other_input_items = await thrown(other.responses.inputItems.list(r.id));
  out.other_delete = await thrown((other.responses.delete ?? other.responses.del)
                                    .call(other.responses, r.id));
  out.retrieved_after_other = textOf(await client.responses.retrieve(r.id));
  await (client.responses.delete ?? client.responses.del).call(client.responses, r.id);
  out.deleted = true;
  out.retrieve_after_delete = await thrown(client.responses.retrieve(r.id));
}

async function embeddings() {
  const e = await client.embeddings.create({ model: 'text-embedding-3-small',
                                             input: ['first string', 'second string'] });
  out.count = e.data.length;
  out.indexes = e.data.map((d) => d.index);
  out.dimensions = e.data.map((d) => d.embedding.length);
  out.prompt_tokens = e.usage.prompt_tokens;
}

async function models() {
  out.ids = [];
  for await (const m of client.models.list())
    out.ids.push(m.id);
  out.other_ids = [];
  for await (const m of other.models.list())
    out.other_ids.push(m.id);
  const m = await client.models.retrieve('gpt-4o');
  out.retrieved = { id: m.id, object: m.object };
  out.other_retrieve = await thrown(other.models.retrieve('gpt-4o'));
}

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
  } else if (scenario === 'guarded') {
    // "other" has an input-guard policy that refuses HTML: each route's refusal is typed.
    out.chat = await thrown(other.chat.completions.create({
      model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'see <b>this</b>' }] }));
    out.responses = await thrown(other.responses.create({ model: 'gpt-4o-mini',
                                                          input: '<script>x</script>' }));
    out.passed = (await other.chat.completions.create({ model: 'gpt-4o-mini', messages }))
      .choices[0].message.content;
    out.completed = true;
  } else if (scenario === 'responses') {
    await responsesLifecycle();
  } else if (scenario === 'responses_stream') {
    await responseStream();
    const again = await client.responses.retrieve(out.id);
    out.retrieved = { id: again.id, text: textOf(again) };
  } else if (scenario === 'responses_cut') {
    await responseStream();
  } else if (scenario === 'responses_refused') {
    await other.responses.create({ model: 'gpt-4o', input });
    out.completed = true;
  } else if (scenario === 'embeddings') {
    await embeddings();
  } else if (scenario === 'models') {
    await models();
  } else {
    out.unknown_scenario = scenario;
  }
} catch (e) {
  out.error = describe(e);
}
console.log(JSON.stringify(out));
