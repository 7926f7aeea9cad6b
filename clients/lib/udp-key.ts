import { readFileSync } from 'node:fs';
import { parseUdpKey, type UdpKey } from '../../src/auth/users-file.js';
import { UsageError } from './cli-exit-codes.js';

/**
 * A client's UDP key (docs/PROTOCOL.md "Authenticated datagrams"), `ID:HEX`, from a
 * file or from the environment, never from a flag's value, which `ps` shows. None: null.
 */
export function loadUdpKey(file: string | undefined, env: string | undefined = process.env.KV_UDP_KEY): UdpKey | null {
  let text: string;
  let from: string;
  if (file !== undefined && file !== '') {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --udp-key-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    from = `--udp-key-file ${file}`;
  } else if (env !== undefined && env !== '') {
    text = env;
    from = 'KV_UDP_KEY';
  } else return null;
  const key = parseUdpKey(text);
  if (typeof key === 'string') throw new UsageError(`${from}: ${key}`);
  return key;
}
