// SPDX-License-Identifier: MIT
// The official OpenAI Node SDK, unmodified, pointed at sluice: buffered, streamed, a refusal,
// and a stream the upstream cuts.  Prints one JSON object for the C test to check.
// Usage: node sdk_check.mjs BASE_URL SCENARIO
import OpenAI from 'openai';

const [baseURL, scenario] = process.argv.slice(2);
const client = new OpenAI({ apiKey: 'sk-sluice-tenant', baseURL, maxRetries: 0, timeout: 20000 });
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
  } else if (scenario === 'refused') {
    await client.chat.completions.create({ model: 'gpt-nope', messages });
    out.completed = true;
  }
} catch (e) {
  out.error = { class: e.constructor.name, status: e.status ?? null, code: e.code ?? null,
                type: e.type ?? null, message: String(e.message) };
}
console.log(JSON.stringify(out));
