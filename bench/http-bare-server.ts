/**
 * The baseline of bench/http-vs-webdis.ts: node:http answering GET and PUT of
 * /v1/kv/{key} from a Map, with dualkv's statuses, so that the difference to
 * kv-server is what dualkv adds on top of Node's HTTP stack. Prints {"port":N}
 * on stdout once it listens on 127.0.0.1 (port 0: a free one).
 */
import http from 'node:http';

const PREFIX = '/v1/kv/';
/** Bodies past this are refused, so a stray client cannot fill the memory. */
const MAX_BODY_BYTES = 1024 * 1024;

const store = new Map<string, Buffer>();
let version = 0;

function reply(res: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '';
  if (!url.startsWith(PREFIX)) return reply(res, 404, 'application/json', '{"error":{"code":"NOT_FOUND"}}');
  const key = url.slice(PREFIX.length);
  if (req.method === 'GET') {
    const value = store.get(key);
    return value === undefined ? reply(res, 404, 'application/json', '{"error":{"code":"NOT_FOUND"}}') : reply(res, 200, 'application/octet-stream', value);
  }
  if (req.method !== 'PUT') return reply(res, 405, 'application/json', '{"error":{"code":"METHOD_NOT_ALLOWED"}}');
  const chunks: Buffer[] = [];
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) {
      reply(res, 413, 'application/json', '{"error":{"code":"VALUE_TOO_LARGE"}}');
      req.destroy();
    } else chunks.push(chunk);
  });
  req.on('end', () => {
    if (bytes > MAX_BODY_BYTES) return;
    const created = !store.has(key);
    store.set(key, Buffer.concat(chunks, bytes));
    reply(res, created ? 201 : 200, 'application/json', `{"version":"${++version}","created":${created}}`);
  });
});
// dualkv's own timeouts (docs/HTTP.md §1), so that idle connections are treated alike.
server.keepAliveTimeout = 5000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
