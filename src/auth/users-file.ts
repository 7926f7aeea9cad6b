import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { parseSecret, type StoredSecret } from './secrets.js';

/** What a user may run (README "Authentication"): reads; reads and writes; everything, the admin commands too. */
export const PERMISSIONS = ['read', 'readwrite', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** A UDP key (docs/PROTOCOL.md "Authenticated datagrams"): its id in the datagram, and the HMAC-SHA256 key bytes. */
export interface UdpKey {
  readonly id: number;
  readonly key: Buffer;
}

export interface UserEntry {
  readonly name: string;
  readonly permission: Permission;
  readonly secret: StoredSecret;
  readonly udpKeys: readonly UdpKey[];
}

/** Redis's rule for user names is looser; ours keeps CLIENT LIST and log lines unambiguous. */
const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
/** UDP key ids are 16-bit; 0 is reserved for "no key". */
const MAX_UDP_KEY_ID = 0xffff;
/** HMAC-SHA256 keys of fewer bytes than this are refused (RFC 2104: at least the hash's output length is recommended). */
export const MIN_UDP_KEY_BYTES = 32;

const UDP_KEY_FORM = `ID:HEX (the key's id, 1 to ${MAX_UDP_KEY_ID}, and at least ${MIN_UDP_KEY_BYTES} bytes of key in hex)`;

/**
 * A UDP key as the users file and the clients (--udp-key-file, KV_UDP_KEY) write it,
 * `ID:HEX`; or what is wrong with it (never echoing the key).
 */
export function parseUdpKey(text: string): UdpKey | string {
  const m = /^(\d{1,5}):([0-9a-fA-F]+)$/.exec(text.trim());
  if (m === null) return `a UDP key is written ${UDP_KEY_FORM}`;
  const id = Number(m[1]);
  const hex = m[2] as string;
  if (id < 1 || id > MAX_UDP_KEY_ID) return `a UDP key id is from 1 to ${MAX_UDP_KEY_ID}`;
  if (hex.length % 2 !== 0 || hex.length / 2 < MIN_UDP_KEY_BYTES) return `UDP key ${id} must be at least ${MIN_UDP_KEY_BYTES} bytes, written as an even number of hex digits`;
  return { id, key: Buffer.from(hex, 'hex') };
}

/** A users file that cannot be used: at start the server exits with the config error code, at a reload the old users stay. */
export class UsersFileError extends ConfigError {}

/**
 * Parses a users file: one user a line, `name permission secret [udp-key=ID:HEX]…`,
 * with `#` comments and blank lines. Errors name the file and line, never the secret.
 */
export function parseUsers(text: string, file: string): UserEntry[] {
  const users: UserEntry[] = [];
  const names = new Set<string>();
  const keyIds = new Set<number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${file}:${i + 1}`;
    const line = (lines[i] as string).replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const [name, permission, secretField, ...options] = line.split(/\s+/);
    if (name === undefined || permission === undefined || secretField === undefined) {
      throw new UsersFileError(`${where}: a line is "name permission secret [udp-key=ID:HEX]" (permission: ${PERMISSIONS.join(', ')})`);
    }
    if (!NAME.test(name)) throw new UsersFileError(`${where}: user name "${name.slice(0, 64)}" may hold only letters, digits and . _ @ - (1 to 64 of them)`);
    if (names.has(name)) throw new UsersFileError(`${where}: user "${name}" is given twice`);
    if (!(PERMISSIONS as readonly string[]).includes(permission)) throw new UsersFileError(`${where}: permission "${permission.slice(0, 32)}" is not one of ${PERMISSIONS.join(', ')}`);
    const secret = parseSecret(secretField);
    if (typeof secret === 'string') throw new UsersFileError(`${where}: ${secret}`);
    const udpKeys: UdpKey[] = [];
    for (const opt of options) {
      if (!opt.startsWith('udp-key=')) throw new UsersFileError(`${where}: an option after the secret is udp-key=${UDP_KEY_FORM}`);
      const key = parseUdpKey(opt.slice('udp-key='.length));
      if (typeof key === 'string') throw new UsersFileError(`${where}: ${key}`);
      if (keyIds.has(key.id)) throw new UsersFileError(`${where}: UDP key id ${key.id} is used twice`);
      keyIds.add(key.id);
      udpKeys.push(key);
    }
    names.add(name);
    users.push({ name, permission: permission as Permission, secret, udpKeys });
  }
  if (users.length === 0) throw new UsersFileError(`${file}: no users in it (a line is "name permission secret")`);
  return users;
}

/** Reads and parses the users file; also says when others may read it (it holds secrets or their hashes). */
export function loadUsersFile(file: string): { users: UserEntry[]; warning: string | null } {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode;
  } catch (err) {
    throw new UsersFileError(`cannot read the users file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const warning = (mode & 0o077) !== 0 ? `the users file ${file} may be read by other users of this machine (mode ${(mode & 0o777).toString(8)}); chmod 600 it` : null;
  return { users: parseUsers(text, file), warning };
}
