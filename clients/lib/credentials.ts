import { readFileSync } from 'node:fs';
import { UsageError } from './cli-exit-codes.js';

/**
 * A client's credentials (README "Authentication"): the user from --user or KV_USER,
 * the password from the file --password-file names or from KV_PASSWORD. There is no
 * password flag: a flag's value shows in `ps` to every user of the machine.
 */
export interface Credentials {
  readonly user: string | undefined;
  readonly password: string;
}

export function readCredentials(flags: { user?: string | undefined; passwordFile?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Credentials | null {
  const user = flags.user || env.KV_USER || undefined;
  let password: string | undefined;
  if (flags.passwordFile) {
    try {
      password = readFileSync(flags.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new UsageError(`cannot read --password-file ${flags.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (password === '') throw new UsageError(`--password-file ${flags.passwordFile} is empty`);
  } else if (env.KV_PASSWORD) {
    password = env.KV_PASSWORD;
  }
  if (password === undefined) {
    if (user !== undefined) throw new UsageError('--user (or KV_USER) needs a password: --password-file FILE, or KV_PASSWORD');
    return null;
  }
  return { user, password };
}
