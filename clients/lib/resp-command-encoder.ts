/** One argument of a command: bytes as they are, strings as UTF-8, numbers as decimal text. */
export type RespArg = Uint8Array | string | number;

/**
 * Encodes a command as a RESP2 multibulk request (`*N\r\n` then `$len\r\n<bytes>\r\n`
 * per argument), the form every Redis server reads binary-safe. Sizes are summed
 * first so that the request is written into one buffer, with no concat.
 */
export function encodeRespCommand(args: readonly RespArg[]): Buffer {
  const head = `*${args.length}\r\n`;
  let size = head.length;
  const lens: number[] = new Array<number>(args.length);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as RespArg;
    const len = typeof a === 'string' ? Buffer.byteLength(a, 'utf8') : typeof a === 'number' ? String(a).length : a.length;
    lens[i] = len;
    size += 1 + String(len).length + 2 + len + 2;
  }
  const out = Buffer.allocUnsafe(size);
  let off = out.write(head, 0, 'latin1');
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as RespArg;
    off += out.write(`$${lens[i] as number}\r\n`, off, 'latin1');
    if (typeof a === 'string') off += out.write(a, off, 'utf8');
    else if (typeof a === 'number') off += out.write(String(a), off, 'latin1');
    else {
      out.set(a, off);
      off += a.length;
    }
    out[off++] = 0x0d;
    out[off++] = 0x0a;
  }
  return out;
}
