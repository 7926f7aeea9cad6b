import { describe, expect, it } from 'vitest';
import { KvError } from '../../src/errors.js';
import { decodeReply, encodeReply, Opcode, Status } from '../../src/protocol/datagram.js';
import { opcodeSpec, type OpcodeSpec } from '../../src/protocol/datagram-opcodes.js';
import { replyBody } from '../../src/protocol/datagram-reply.js';
import type { Reply } from '../../src/protocol/reply.js';

// docs/PROTOCOL.md, udp "Opcodes" and "Status codes": how each semantic reply reads as a datagram.

/** The reply as a client decodes it. */
function wire(reply: Reply, opcode: Opcode = Opcode.GET) {
  const body = replyBody(reply, (opcodeSpec(opcode) as OpcodeSpec).int);
  const d = decodeReply(encodeReply({ opcode, id: 1, status: body.status, value: body.value, extensions: body.extensions }));
  return { status: d.status, value: d.value.toString('latin1'), version: d.details.version, expiresAt: d.details.expiresAt };
}

describe('datagram replies for the versioned commands', () => {
  it('versioned (GETVER): OK, the value, VERSION, and EXPIRES_AT only when the key expires', () => {
    expect(wire({ t: 'versioned', v: 'hello', version: 7, expiresAt: 0 })).toEqual({ status: Status.OK, value: 'hello', version: 7n, expiresAt: null });
    expect(wire({ t: 'versioned', v: 'hello', version: 7, expiresAt: 1_700_000_000_000 })).toEqual({
      status: Status.OK,
      value: 'hello',
      version: 7n,
      expiresAt: 1_700_000_000_000n,
    });
  });

  it('cas: OK with the new version when applied, CONFLICT with the current one (0: absent) when not', () => {
    expect(wire({ t: 'cas', applied: true, version: 12 }, Opcode.PUT)).toEqual({ status: Status.OK, value: '', version: 12n, expiresAt: null });
    expect(wire({ t: 'cas', applied: false, version: 11 }, Opcode.PUT)).toEqual({ status: Status.CONFLICT, value: '', version: 11n, expiresAt: null });
    expect(wire({ t: 'cas', applied: false, version: 0 }, Opcode.DEL)).toEqual({ status: Status.CONFLICT, value: '', version: 0n, expiresAt: null });
    expect(wire({ t: 'cas', applied: true, version: 0 }, Opcode.DEL)).toEqual({ status: Status.OK, value: '', version: 0n, expiresAt: null });
  });

  it('an integer reads as found / not found on EXPIRE, and as its text elsewhere', () => {
    expect(wire({ t: 'int', n: 1 }, Opcode.EXPIRE)).toMatchObject({ status: Status.OK, value: '' });
    expect(wire({ t: 'int', n: 0 }, Opcode.EXPIRE)).toMatchObject({ status: Status.NOT_FOUND, value: '' });
    expect(wire({ t: 'int', n: 3 }, Opcode.STATS)).toMatchObject({ status: Status.OK, value: '3' });
  });

  it('an error takes its status from the error registry, whatever the opcode', () => {
    const r: Reply = { t: 'error', err: new KvError('INVALID_EXPIRE', "invalid expire time in 'set' command") };
    expect(wire(r, Opcode.PUT)).toMatchObject({ status: Status.COMMAND_ERROR, value: "INVALID_EXPIRE invalid expire time in 'set' command" });
    expect(wire({ t: 'error', err: new KvError('OOM', 'x') }, Opcode.EXPIRE).status).toBe(Status.UNAVAILABLE);
  });
});
