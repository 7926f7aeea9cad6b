import { isUtf8 } from 'node:buffer';
import { isKvError } from '../../src/errors.js';
import { ExitCode, UsageError } from './cli-exit-codes.js';

/** A value in --json output: text when the bytes are valid UTF-8, base64 otherwise. */
export interface JsonValue {
  readonly value: string;
  readonly encoding: 'utf8' | 'base64';
}

/**
 * Encodes bytes for JSON. `encoding` is always present, so a reader never has to
 * guess: `utf8` means `value` is the text itself, `base64` that it must be decoded.
 */
export function toJsonValue(bytes: Uint8Array): JsonValue {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(buf) ? { value: buf.toString('utf8'), encoding: 'utf8' } : { value: buf.toString('base64'), encoding: 'base64' };
}

/** The inverse of toJsonValue. */
export function fromJsonValue(v: JsonValue): Buffer {
  return Buffer.from(v.value, v.encoding === 'base64' ? 'base64' : 'utf8');
}

/** An error in --json output: `{ "code": "CONNECTION", "message": "..." }`. */
export function toJsonError(err: unknown): { code: string; message: string } {
  if (isKvError(err)) return { code: err.code, message: err.message };
  if (err instanceof UsageError) return { code: 'USAGE', message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** One line of JSON; `undefined` fields are left out. */
export function formatJson(obj: object): string {
  return JSON.stringify(obj) + '\n';
}

/**
 * Bytes for a person to read, as one double-quoted string with C-style escapes
 * (the way redis-cli shows values): UTF-8 text stays readable, any other byte is
 * `\xHH`, and the result pastes back into the interactive prompt unchanged.
 */
export function quoteBytes(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = isUtf8(buf) ? buf.toString('utf8') : null;
  let out = '"';
  if (text !== null) {
    for (const ch of text) {
      const c = ch.codePointAt(0) as number;
      out += c < 0x80 ? escapeAscii(c) : ch;
    }
  } else {
    for (const c of buf) out += c < 0x80 ? escapeAscii(c) : '\\x' + c.toString(16).padStart(2, '0');
  }
  return out + '"';
}

function escapeAscii(c: number): string {
  switch (c) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return '\\\\';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    default:
      return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '\\x' + c.toString(16).padStart(2, '0');
  }
}

/**
 * Writes to a stream and waits until the bytes are handed to the OS, so that an
 * exit right after loses nothing. A reader that went away (EPIPE, `| head`) is
 * not an error worth reporting.
 */
export function writeOut(stream: NodeJS.WritableStream, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    stream.write(data, (err) => {
      if (err && (err as NodeJS.ErrnoException).code !== 'EPIPE') process.stderr.write(`write failed: ${err.message}\n`);
      resolve();
    });
  });
}

/** Reads a stream to its end as bytes (stdin for `put KEY -`), newlines and all. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  return Buffer.concat(parts);
}

/**
 * A command's result on stdout: a value as its raw bytes (a terminal also gets a
 * newline, so the shell prompt starts on its own line), text with a newline.
 */
export async function writeResult(out: Buffer | string): Promise<void> {
  if (typeof out === 'string') return writeOut(process.stdout, out + '\n');
  await writeOut(process.stdout, out);
  if (process.stdout.isTTY) await writeOut(process.stdout, '\n');
}

/**
 * Runs a CLI's main and sets the exit code: a closed stdout (e.g. `| head`) is not an
 * error, and anything main did not expect is reported as an internal error.
 */
export async function runCli(name: string, main: () => Promise<number>): Promise<void> {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.exitCode = await main().catch(async (err: unknown) => {
    await writeOut(process.stderr, `${name}: internal error (please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.INTERNAL;
  });
}
