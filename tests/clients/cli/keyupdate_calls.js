// OpenAI chat completions with plain `fetch` (deno: rustls), one after the
// other on one keep-alive HTTP/1.1 connection (the server offers no ALPN),
// with a pause between calls, so a TLS KeyUpdate the server sends after a
// response is on the wire before the next request.
// argv: URL PAUSE_MS MODE... (MODE `stream`: SSE with
// `stream_options.include_usage`; `nonstream`: JSON). Each response is read
// whole and parsed like a client would; one JSON line per call: what this
// process saw (`pid`, `comm`, request and response ids, model, status,
// usage, answer).
const fs = await import("node:fs");
const comm = fs.readFileSync("/proc/self/comm", "utf8").trim();
const [url, pause, ...modes] = process.argv.slice(2);
const model = "gpt-4o-mini";

function events(text) {
  return text.split("\n\n").map((e) => e.split("\n").find((l) => l.startsWith("data: "))).filter(Boolean)
    .map((l) => l.slice(6)).filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
}

for (const [i, mode] of modes.entries()) {
  if (i > 0) await new Promise((r) => setTimeout(r, Number(pause)));
  const stream = mode === "stream";
  const body = { model, messages: [{ role: "user", content: `call ${i}: say a few words` }] };
  if (stream) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer " + process.env.OPENAI_API_KEY },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  const out = {
    client: comm, pid: process.pid, comm, index: i, mode, model, status: r.status,
    request_id: r.headers.get("x-request-id") || "", response_id: "", response_model: "", answer: "",
  };
  for (const o of stream ? events(text) : [JSON.parse(text)]) {
    if (o.id) out.response_id = o.id;
    if (o.model) out.response_model = o.model;
    if (o.usage) out.usage = o.usage;
    for (const c of o.choices || []) out.answer += (c.message || c.delta || {}).content || "";
  }
  console.log(JSON.stringify(out));
}
