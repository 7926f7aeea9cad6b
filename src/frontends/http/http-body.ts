import type http from 'node:http';
import { KvError } from '../../errors.js';
import type { ClientMeter } from './http-connection.js';

/**
 * Reads a request body, refusing it (413, `tooLarge`'s error) once it passes `limit`
 * bytes, without holding more: a Content-Length over the limit is refused before a byte
 * is read. What it holds meanwhile is metered as the client's (--maxmemory-clients).
 */
export function readBody(req: http.IncomingMessage, limit: number, meter: ClientMeter, tooLarge: (bytes: number) => KvError): Promise<Buffer | KvError> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    req.resume();
    return Promise.resolve(tooLarge(declared));
  }
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      got += chunk.length;
      if (got > limit) {
        refused = true;
        parts.length = 0;
        meter.holding(0);
        resolve(tooLarge(got));
        return;
      }
      parts.push(chunk);
      meter.holding(got);
    });
    req.on('end', () => {
      // A small body comes in one chunk: no copy.
      if (!refused) resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, got));
    });
    req.on('error', () => {
      parts.length = 0;
      meter.holding(0);
      resolve(new KvError('BAD_REQUEST', 'the request body ended early'));
    });
  });
}
