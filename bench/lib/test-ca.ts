/**
 * A throw-away certificate authority made with the openssl CLI, for the TLS tests and
 * bench/tls-vs-redis.ts: the same steps as README "TLS" gives for a test CA.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key, as PEM file paths. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestCa extends CertFiles {
  readonly dir: string;
  /** Signs a new certificate: for a server (SAN 127.0.0.1 and localhost) or a client. */
  issue(name: string, kind: 'server' | 'client'): Promise<CertFiles>;
}

/** EC P-256 keys: quick to make, and what a modern deployment would use. */
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes a CA named `name` in `dir` (files `<name>.crt`, `<name>.key`). */
export async function makeTestCa(dir: string, name = 'ca'): Promise<TestCa> {
  const ca = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  await run('openssl', ['req', '-x509', ...KEY_ARGS, '-keyout', ca.key, '-out', ca.cert, '-days', '2', '-subj', `/CN=dualkv test ${name}`]);
  let serial = 1;
  return {
    ...ca,
    dir,
    async issue(certName, kind) {
      const out = { cert: path.join(dir, `${certName}.crt`), key: path.join(dir, `${certName}.key`) };
      const csr = path.join(dir, `${certName}.csr`);
      const ext = path.join(dir, `${certName}.ext`);
      writeFileSync(ext, kind === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
      await run('openssl', ['req', ...KEY_ARGS, '-keyout', out.key, '-out', csr, '-subj', `/CN=${certName}`]);
      // A serial of our own, so that a test can tell two certificates apart by it.
      const hex = `${name === 'ca' ? '10' : '20'}${String(serial++).padStart(4, '0')}`;
      await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${hex}`, '-out', out.cert, '-days', '2', '-extfile', ext]);
      return out;
    },
  };
}
