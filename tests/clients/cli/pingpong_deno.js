// TLS round trips inside one deno process (rustls over aws-lc on both
// ends): a Deno.serve HTTPS server on 127.0.0.1 answering 64 bytes, and
// sequential keep-alive fetches of it. Prints the median ns per round trip
// over `blocks` blocks of `n` round trips (argv: n blocks; env CERT, KEY,
// CA).
const [n, blocks] = Deno.args.map(Number);
const body = "x".repeat(64);
const ready = Promise.withResolvers();
const server = Deno.serve({
  port: 0, hostname: "127.0.0.1",
  cert: Deno.readTextFileSync(Deno.env.get("CERT")),
  key: Deno.readTextFileSync(Deno.env.get("KEY")),
  onListen: ({ port }) => ready.resolve(port),
}, () => new Response(body));
const port = await ready.promise;
const client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(Deno.env.get("CA"))], http2: false });
const url = `https://127.0.0.1:${port}/`;
const opts = { client, method: "POST", body };
await (await fetch(url, opts)).text();
const per = [];
for (let b = 0; b < blocks; b++) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await (await fetch(url, opts)).text();
  per.push(((performance.now() - t0) * 1e6) / n);
}
per.sort((a, b) => a - b);
console.log(Math.round(per[Math.floor(per.length / 2)]));
client.close();
await server.shutdown();
