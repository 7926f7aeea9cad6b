import type { Dialect } from '../../commands/dialects.js';

/** The HTTP dialect (docs/HTTP.md): the keyspace commands, reached through the API's routes only. */
export const HTTP: Dialect = { name: 'http', groups: new Set(['keyspace']) };
