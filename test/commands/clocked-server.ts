import { beforeEach } from 'vitest';
import { request, type RespValue } from '../frontends/resp-reader.js';
import { ManualClock, serverFixture, type TestServer } from '../helpers/server.js';
import type { RawClient } from '../helpers/socket.js';

export const OK: RespValue = { status: 'OK' };
export const err = (message: string): RespValue => ({ error: `ERR ${message}` });
export const invalidExpire = (command: string): RespValue => err(`invalid expire time in '${command}' command`);
export const NOT_INTEGER = err('value is not an integer or out of range');
export const SYNTAX = err('syntax error');

export interface ClockedServer {
  readonly clock: ManualClock;
  readonly srv: TestServer;
  /** The RESP client. */
  readonly client: RawClient;
  /** A text-dialect client, connected on first use. */
  text(...lines: string[]): Promise<string[]>;
  call(...words: string[]): Promise<RespValue>;
  /** Runs commands one after another; their replies. */
  calls(...commands: string[][]): Promise<RespValue[]>;
  /** Whether the key is still held, expired or not (peeking never expires a key). */
  held(key: string): boolean;
  /** One `name:value` field of INFO. */
  info(name: string): Promise<string | undefined>;
}

/**
 * For a describe block: before each test, a server in this process on a clock the
 * test moves by hand, with the active expiry sweep off (nothing expires but what the
 * test makes expire), and a RESP client to it. Stopped after each test.
 */
export function clockedServer(): ClockedServer {
  const fx = serverFixture();
  let clock = new ManualClock();
  let client: RawClient | undefined;
  let textClient: RawClient | undefined;
  beforeEach(async () => {
    clock = new ManualClock();
    textClient = undefined;
    await fx.start({}, { clock: clock.now, activeExpiry: false });
    client = await fx.connect();
  });
  const call = async (...words: string[]): Promise<RespValue> => (await request(s.client, ...words)).value;
  const s: ClockedServer = {
    get clock() {
      return clock;
    },
    get srv() {
      return fx.srv;
    },
    get client() {
      if (client === undefined) throw new Error('no client before the test starts');
      return client;
    },
    async text(...lines) {
      textClient ??= await fx.connect();
      return textClient.text(...lines);
    },
    call,
    async calls(...commands) {
      const out: RespValue[] = [];
      for (const words of commands) out.push(await call(...words));
      return out;
    },
    held: (key) => fx.srv.server.backend.peek(key) !== undefined,
    async info(name) {
      const text = (await call('INFO')) as string;
      return new RegExp(`^${name}:(.*)\r$`, 'm').exec(text)?.[1];
    },
  };
  return s;
}
