#!/usr/bin/env node
// Drives the official `openai` Node SDK (unmodified) against OPENAI_BASE_URL;
// the test CA comes from NODE_EXTRA_CA_CERTS (Node's documented env var).
// Prints one JSON line per call: what this process saw (pid, comm, ids, usage).
'use strict';
const fs = require('fs');
const OpenAI = require('openai');

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

async function main() {
  const count = Number(arg('count', '1'));
  const mode = arg('mode', 'nonstream');
  const model = arg('model', 'gpt-4o-mini');
  const words = Number(arg('words', '5'));
  const maxTokens = Number(arg('max-tokens', '0'));
  const comm = fs.readFileSync('/proc/self/comm', 'utf8').trim();
  if (count === 0) return; // warm-up run: start, load libraries, exit
  // maxRetries 0: every call is exactly one HTTP exchange.
  const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY || 'sk-mock-e2e-0000000000001234',
    maxRetries: 0, timeout: 30000 });
  for (let i = 0; i < count; i++) {
    const user = Array.from({ length: words + i }, (_, j) => 'word' + j).join(' ');
    const body = { model, messages: [{ role: 'system', content: 'You are a test.' },
      { role: 'user', content: user }] };
    if (maxTokens) body.max_tokens = maxTokens;
    const out = { client: 'node', pid: process.pid, comm, mode, model, index: i };
    const t0 = performance.now();
    try {
      if (mode === 'stream') {
        const { data, response } = await client.chat.completions
          .create({ ...body, stream: true, stream_options: { include_usage: true } }).withResponse();
        out.request_id = response.headers.get('x-request-id') || '';
        out.status = response.status;
        let usage = null, rid = '', rmodel = '', text = '', finish = '';
        for await (const chunk of data) {
          rid = chunk.id; rmodel = chunk.model;
          for (const c of chunk.choices) { text += c.delta.content || ''; finish = c.finish_reason || finish; }
          if (chunk.usage) usage = chunk.usage;
        }
        Object.assign(out, { response_id: rid, response_model: rmodel, content: text, finish_reason: finish,
          prompt_tokens: usage ? usage.prompt_tokens : null, completion_tokens: usage ? usage.completion_tokens : null });
      } else {
        const { data, response } = await client.chat.completions.create(body).withResponse();
        out.request_id = response.headers.get('x-request-id') || '';
        out.status = response.status;
        Object.assign(out, { response_id: data.id, response_model: data.model,
          content: data.choices[0].message.content, finish_reason: data.choices[0].finish_reason,
          prompt_tokens: data.usage.prompt_tokens, completion_tokens: data.usage.completion_tokens });
      }
    } catch (e) {
      if (!(e instanceof OpenAI.APIError) || e.status === undefined) throw e;
      Object.assign(out, { status: e.status, request_id: e.requestID || '', error: e.type || '' });
    }
    out.elapsed_ms = Math.round((performance.now() - t0) * 1000) / 1000;
    console.log(JSON.stringify(out));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
