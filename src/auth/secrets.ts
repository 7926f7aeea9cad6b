import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A user's secret as the users file holds it (README "Authentication"):
 * - `sha256:<salt hex>:<hex of SHA-256(salt bytes ‖ password)>`, what `kv-server --hash-password` prints;
 * - `plain:<password>`, for a file that is itself a secret (a mounted Kubernetes or compose secret).
 * The server keeps only the salted hash either way, and compares in constant time.
 */
export interface StoredSecret {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Salt bytes `hashPassword` draws (16: as many as the hash's security needs, and short in the file). */
const SALT_BYTES = 16;

function digest(salt: Buffer, password: string | Buffer): Buffer {
  return createHash('sha256').update(salt).update(password).digest();
}

/** A fresh salted hash, in the file's `sha256:` form. */
export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES);
  return `sha256:${salt.toString('hex')}:${digest(salt, password).toString('hex')}`;
}

/** Reads a secret field, or says what is wrong with it (never echoing it). */
export function parseSecret(field: string): StoredSecret | string {
  if (field.startsWith('plain:')) {
    const password = field.slice('plain:'.length);
    if (password === '') return 'the password after plain: is empty';
    const salt = randomBytes(SALT_BYTES);
    return { salt, hash: digest(salt, password) };
  }
  const m = /^sha256:([0-9a-f]{2,128}):([0-9a-f]{64})$/i.exec(field);
  if (m === null) return 'a secret is sha256:<salt hex>:<64 hex digits> (kv-server --hash-password prints one) or plain:<password>';
  return { salt: Buffer.from(m[1] as string, 'hex'), hash: Buffer.from(m[2] as string, 'hex') };
}

/** The secret of a password given on the command line or in the environment (--requirepass). */
export function secretOf(password: string): StoredSecret {
  const salt = randomBytes(SALT_BYTES);
  return { salt, hash: digest(salt, password) };
}

/** Whether `password` is this secret's, in time that does not depend on where they differ. */
export function matches(secret: StoredSecret, password: string | Buffer): boolean {
  return timingSafeEqual(digest(secret.salt, password), secret.hash);
}
