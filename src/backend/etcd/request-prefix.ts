/** The default prefix of the UDP request records: the key prefix's last `/` turned into `.udp-requests/` (dualkv/ → dualkv.udp-requests/). */
export function requestPrefixFor(prefix: string): string {
  return `${prefix.endsWith('/') ? prefix.slice(0, -1) : prefix}.udp-requests/`;
}

/** Why the two prefixes cannot go together (one's keys would fall in the other's range), or null. */
export function prefixOverlap(prefix: string, requestPrefix: string): string | null {
  if (requestPrefix === '') return 'the etcd request prefix is empty';
  if (!requestPrefix.startsWith(prefix) && !prefix.startsWith(requestPrefix)) return null;
  return `the UDP request records (under ${JSON.stringify(requestPrefix)}) would fall among the keys (under ${JSON.stringify(prefix)}) or the other way round; give --etcd-request-prefix outside --etcd-prefix (e.g. end --etcd-prefix with /)`;
}

/** Where the records under `requestPrefix` are, as STATS says it (udp_shared_record). */
export function recordsWhere(requestPrefix: string): string {
  return `etcd under ${JSON.stringify(requestPrefix)}`;
}
