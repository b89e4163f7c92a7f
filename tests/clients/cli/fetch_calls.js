// Plain `fetch` from a JavaScript runtime (bun: BoringSSL; deno: rustls),
// unmodified, against the mock providers: for each of argv's calls
// (`openai:stream`, `openai:nonstream`, `anthropic:stream`,
// `anthropic:nonstream`, `openai-429`) one POST, the response read whole and
// parsed like a client would (JSON, or the SSE events). Prints one JSON line
// per call: what this process saw (`pid`, `comm`, request and response ids,
// model, status, usage).
const fs = await import("node:fs");
const comm = fs.readFileSync("/proc/self/comm", "utf8").trim();
const env = (k) => process.env[k];

function openaiCall(stream, model) {
  const body = { model, messages: [{ role: "user", content: "count the words in this sentence please" }] };
  if (stream) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  return {
    url: "https://api.openai.com/v1/chat/completions",
    headers: { "content-type": "application/json", authorization: "Bearer " + env("OPENAI_API_KEY") },
    body, provider: "openai",
  };
}

function anthropicCall(stream) {
  const body = { model: "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "say three short words" }] };
  if (stream) body.stream = true;
  return {
    url: "https://api.anthropic.com/v1/messages",
    headers: { "content-type": "application/json", "x-api-key": env("ANTHROPIC_API_KEY"), "anthropic-version": "2023-06-01" },
    body, provider: "anthropic",
  };
}

function events(text) {
  return text.split("\n\n").map((e) => e.split("\n").find((l) => l.startsWith("data: "))).filter(Boolean)
    .map((l) => l.slice(6)).filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
}

for (const [i, spec] of process.argv.slice(2).entries()) {
  const [what, mode] = spec.split(":");
  const stream = mode === "stream";
  const c = what === "anthropic" ? anthropicCall(stream) : openaiCall(stream, what === "openai-429" ? "mock-429" : "gpt-4o-mini");
  const r = await fetch(c.url, { method: "POST", headers: c.headers, body: JSON.stringify(c.body) });
  const text = await r.text();
  const out = {
    client: comm, pid: process.pid, comm, index: i, mode: stream ? "stream" : "nonstream",
    model: c.body.model, status: r.status,
    request_id: r.headers.get("x-request-id") || r.headers.get("request-id") || "",
    response_id: "", response_model: "",
  };
  const objs = r.status === 200 && stream ? events(text) : [JSON.parse(text)];
  for (const o of objs) {
    const m = o.message || o;
    if (m.id && (m.object || m.type === "message")) out.response_id = m.id;
    if (m.model) out.response_model = m.model;
    if (m.usage) out.usage = Object.assign(out.usage || {}, m.usage);
    if (o.usage && o.type === "message_delta") out.usage = Object.assign(out.usage || {}, o.usage);
  }
  console.log(JSON.stringify(out));
}
