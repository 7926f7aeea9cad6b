import { describe, expect, it } from 'vitest';
import { replyError } from '../../clients/lib/udp-errors.js';
import { Status } from '../../src/protocol/datagram.js';

// An error reply is cut to its request's size (docs/PROTOCOL.md, udp "Amplification").
describe('the UDP client error for an error reply', () => {
  it('takes the code from the text when the text carries it, cut or not', () => {
    const e = replyError(Status.COMMAND_ERROR, Buffer.from('KEY_TOO_LARGE key of 40 bytes is over the'));
    expect(e).toMatchObject({ code: 'KEY_TOO_LARGE', status: Status.COMMAND_ERROR, message: 'COMMAND_ERROR: key of 40 bytes is over the' });
  });

  it('says what the status means when the text was cut before the code was whole', () => {
    const e = replyError(Status.TOO_LARGE, Buffer.from('DAT'));
    expect(e.code).toBe('DATAGRAM_TOO_LARGE');
    expect(e.message).toMatch(/^TOO_LARGE: .*use TCP.*"DAT"/);
    expect(replyError(Status.UNAVAILABLE, Buffer.alloc(0)).message).toBe('UNAVAILABLE: the server cannot write now; try again later');
    // A refusal of an unsigned 22-byte request leaves room for a few bytes of text only.
    const auth = replyError(Status.UNAUTHORIZED, Buffer.from('NO_'));
    expect(auth.code).toBe('NO_AUTH');
    expect(auth.message).toMatch(/^UNAUTHORIZED: the server requires signed datagrams.*KV_UDP_KEY.*"NO_"/);
  });
});
