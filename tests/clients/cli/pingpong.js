// TLS round trips inside one bun process (BoringSSL on both ends): a
// Bun.serve HTTPS server on 127.0.0.1 answering 64 bytes, and sequential
// keep-alive fetches of it. Prints the median ns per round trip over
// `blocks` blocks of `n` round trips (argv: n blocks; env CERT, KEY).
const [n, blocks] = process.argv.slice(2).map(Number);
const body = "x".repeat(64);
const server = Bun.serve({
  port: 0, hostname: "127.0.0.1",
  tls: { cert: Bun.file(process.env.CERT), key: Bun.file(process.env.KEY) },
  fetch() { return new Response(body); },
});
const url = `https://127.0.0.1:${server.port}/`;
const opts = { tls: { rejectUnauthorized: false }, method: "POST", body };
await (await fetch(url, opts)).text();
const per = [];
for (let b = 0; b < blocks; b++) {
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < n; i++) await (await fetch(url, opts)).text();
  per.push((Bun.nanoseconds() - t0) / n);
}
per.sort((a, b) => a - b);
console.log(Math.round(per[Math.floor(per.length / 2)]));
server.stop(true);
