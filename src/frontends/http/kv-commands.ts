import { NO_CHANGE, type Change } from '../../backend/types.js';
import type { Reply } from '../../protocol/reply.js';
import { andThen as then } from '../../commands/maybe.js';
import type { CommandSpec } from '../../commands/types.js';
import type { ByteString } from '../../store/bytes.js';
import { valueTooLarge } from '../../commands/keyspace.js';

/**
 * The one command the HTTP API needs that the table's do not give in one step: PUT that
 * says whether the key is new (201 or 200) and its new version (the ETag), with the
 * API's conditions. It is named PUT, as the text dialect's PUT, so that op lines and
 * INFO count it with the other writes of a value; only the HTTP dialect offers it.
 *
 * Its arguments, built by the API from the request (never typed by a client):
 * `PUT key value condition expiresAt`, where condition is '' (none), '*absent' (If-None-Match: *),
 * '*exists' (If-Match: *) or a version (If-Match: "N"), and expiresAt is '' or an absolute time in ms already checked
 * to be after now.
 */
export const HTTP_PUT: CommandSpec = {
  name: 'put',
  arity: 5,
  write: true,
  denyOom: true,
  firstKey: 1,
  lastKey: 1,
  group: 'keyspace',
  usage: 'PUT /v1/kv/{key}',
  run(ctx, _s, args) {
    const [, key, value, condition, expiry] = args as [string, ByteString, ByteString, string, string];
    const tooLarge = valueTooLarge(ctx, value);
    if (tooLarge !== null) return tooLarge;
    const expiresAt = expiry === '' ? 0 : Number(expiry);
    const put: Change = { kind: 'put', value, expiresAt };
    return then(
      ctx.backend.update<{ ok: boolean; created: boolean }>(key, (cur) => {
        const held = cur?.version ?? 0;
        const ok =
          condition === '' || (condition === '*absent' ? cur === undefined : condition === '*exists' ? cur !== undefined : Number(condition) === held);
        return ok ? { change: put, result: { ok, created: cur === undefined } } : { change: NO_CHANGE, result: { ok, created: false } };
      }),
      ({ result, version }): Reply => (result.ok ? { t: 'stored', created: result.created, version } : { t: 'cas', applied: false, version }),
    );
  },
};
