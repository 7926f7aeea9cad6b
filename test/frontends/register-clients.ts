import { performance } from 'node:perf_hooks';
import { seededRandom } from '../../clients/lib/chaos-random.js';
import type { HistoryEntry, RegisterOp } from '../helpers/linearizability.js';
import type { RawClient } from '../helpers/socket.js';
import { multibulk, respReplies } from './resp-reader.js';

/**
 * One connection's way of running a single-key operation and reading back its
 * result as the register linearizability checker takes it (test/helpers/linearizability.ts),
 * in the text dialect or RESP. Values are plain words (no spaces or quotes), so the
 * text dialect prints them as they are.
 */
export type Request =
  | { readonly kind: 'put'; readonly value: string }
  | { readonly kind: 'del' }
  | { readonly kind: 'get' }
  | { readonly kind: 'getver' }
  | { readonly kind: 'cas'; readonly expected: number; readonly value: string };

export type Runner = (key: string, request: Request) => Promise<RegisterOp>;

function answered(command: string, reply: unknown): Error {
  return new Error(`${command} answered ${JSON.stringify(reply)}`);
}

export function textRunner(c: RawClient): Runner {
  return async (key, req) => {
    c.clear();
    switch (req.kind) {
      case 'put': {
        const [line] = await c.text(`PUT ${key} ${req.value}`);
        if (line !== 'OK') throw answered('PUT', line);
        return req;
      }
      case 'del': {
        const [line] = await c.text(`DEL ${key}`);
        if (line !== 'DELETED' && line !== 'NOT_FOUND') throw answered('DEL', line);
        return { kind: 'del', existed: line === 'DELETED' };
      }
      case 'get': {
        const [line] = await c.text(`GET ${key}`);
        if (line === 'NOT_FOUND') return { kind: 'get', value: null };
        if (!line?.startsWith('VALUE ')) throw answered('GET', line);
        return { kind: 'get', value: line.slice('VALUE '.length) };
      }
      case 'getver': {
        const [line] = await c.text(`GETVER ${key}`);
        if (line === 'NOT_FOUND') return { kind: 'getver', value: null, version: 0 };
        // docs/PROTOCOL.md §1.3: VERSIONED <version> <value>
        const m = /^VERSIONED ([0-9]+) (.*)$/.exec(line ?? '');
        if (m === null) throw answered('GETVER', line);
        return { kind: 'getver', value: m[2] as string, version: Number(m[1]) };
      }
      case 'cas': {
        const [line] = await c.text(`CAS ${key} ${req.expected} ${req.value}`);
        const m = /^(OK|CONFLICT) ([0-9]+)$/.exec(line ?? '');
        if (m === null) throw answered('CAS', line);
        return { ...req, applied: m[1] === 'OK', version: Number(m[2]) };
      }
    }
  };
}

export function respRunner(c: RawClient): Runner {
  return async (key, req) => {
    c.clear();
    const send = async (...words: string[]) => {
      c.write(multibulk(...words));
      return (await respReplies(c, 1))[0];
    };
    switch (req.kind) {
      case 'put': {
        const reply = await send('SET', key, req.value);
        if (JSON.stringify(reply) !== '{"status":"OK"}') throw answered('SET', reply);
        return req;
      }
      case 'del': {
        const reply = await send('DEL', key);
        if (reply !== 0 && reply !== 1) throw answered('DEL', reply);
        return { kind: 'del', existed: reply === 1 };
      }
      case 'get': {
        const reply = await send('GET', key);
        if (reply !== null && typeof reply !== 'string') throw answered('GET', reply);
        return { kind: 'get', value: reply };
      }
      case 'getver': {
        // docs/PROTOCOL.md §2.2: *2 of the value and :version, or the null bulk.
        const reply = await send('GETVER', key);
        if (reply === null) return { kind: 'getver', value: null, version: 0 };
        if (!Array.isArray(reply) || typeof reply[0] !== 'string' || typeof reply[1] !== 'number') throw answered('GETVER', reply);
        return { kind: 'getver', value: reply[0], version: reply[1] };
      }
      case 'cas': {
        // *2 +OK :new-version, or *2 +CONFLICT :current-version.
        const reply = await send('CAS', key, String(req.expected), req.value);
        const status = Array.isArray(reply) ? JSON.stringify(reply[0]) : '';
        if (!Array.isArray(reply) || typeof reply[1] !== 'number' || (status !== '{"status":"OK"}' && status !== '{"status":"CONFLICT"}')) {
          throw answered('CAS', reply);
        }
        return { ...req, applied: status === '{"status":"OK"}', version: reply[1] };
      }
    }
  };
}

export interface HotKeysRun {
  readonly connect: () => Promise<RawClient>;
  readonly connections: number;
  readonly keys: readonly string[];
  /** Steps per connection. */
  readonly steps: number;
  /**
   * One step of connection `n`: any operations on `key`, each run through `record`,
   * which times it and adds it to the key's history. `random` is the connection's own
   * seeded generator.
   */
  readonly step: (s: {
    key: string;
    n: number;
    i: number;
    random: () => number;
    record: (key: string, req: Request) => Promise<RegisterOp>;
  }) => Promise<void>;
}

/**
 * Runs `connections` clients at once (even ones in the text dialect, odd ones in
 * RESP), each taking a random hot key per step, and returns every key's history.
 * Bounded in time (20 s) as well as in steps.
 */
export async function runOnHotKeys(run: HotKeysRun): Promise<Map<string, HistoryEntry[]>> {
  const deadline = performance.now() + 20_000;
  const histories = new Map<string, HistoryEntry[]>(run.keys.map((k) => [k, []]));
  const workers = Array.from({ length: run.connections }, async (_, n) => {
    const c = await run.connect();
    c.socket.setNoDelay(true);
    const dialect = n % 2 === 0 ? 'text' : 'resp';
    const send = dialect === 'text' ? textRunner(c) : respRunner(c);
    const random = seededRandom(1000 + n);
    const record = async (key: string, req: Request): Promise<RegisterOp> => {
      const invoke = performance.now();
      const op = await send(key, req);
      histories.get(key)?.push({ op, invoke, response: performance.now(), client: `${dialect}#${n}` });
      return op;
    };
    for (let i = 0; i < run.steps && performance.now() < deadline; i++) {
      const key = run.keys[Math.floor(random() * run.keys.length)] as string;
      await run.step({ key, n, i, random, record });
    }
  });
  await Promise.all(workers);
  return histories;
}
