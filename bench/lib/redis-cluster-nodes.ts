/** An inclusive range of hash slots, [first, last]. */
export type SlotRange = readonly [number, number];

/** One line of CLUSTER NODES, as one node sees another. */
export interface ClusterNodeEntry {
  readonly id: string;
  readonly port: number;
  readonly busPort: number;
  /** E.g. ['myself', 'master'], ['slave'], ['master', 'fail']. */
  readonly flags: readonly string[];
  readonly master: boolean;
  readonly masterId: string | null;
  readonly slots: readonly SlotRange[];
}

/**
 * Parses CLUSTER NODES (https://redis.io/commands/cluster-nodes): `<id> <ip:port@cport[,hostname]>
 * <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> ...`. Slots being
 * migrated or imported (`[slot->-id]`, `[slot-<-id]`) are not the node's yet and are left out.
 */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
  const entries: ClusterNodeEntry[] = [];
  for (const line of text.split('\n')) {
    const [id, address, flagText, master, , , , , ...slotTokens] = line.trim().split(' ');
    if (id === undefined || id === '' || address === undefined || flagText === undefined || master === undefined) continue;
    const m = /:(\d+)@(\d+)/.exec(address);
    const flags = flagText.split(',');
    const slots: SlotRange[] = [];
    for (const token of slotTokens) {
      if (token.startsWith('[')) continue;
      const [lo, hi] = token.split('-').map(Number);
      if (lo !== undefined && Number.isInteger(lo)) slots.push([lo, hi ?? lo]);
    }
    entries.push({
      id,
      port: Number(m?.[1] ?? 0),
      busPort: Number(m?.[2] ?? 0),
      flags,
      master: flags.includes('master'),
      masterId: master === '-' ? null : master,
      slots,
    });
  }
  return entries;
}

/** Whether several nodes' CLUSTER NODES agree on who is there, who replicates whom and who serves which slots. */
export function sameView(views: ReadonlyArray<readonly ClusterNodeEntry[]>): boolean {
  // Flags such as myself, fail? and fail differ between observers by design; the topology may not.
  const canon = (view: readonly ClusterNodeEntry[]): string =>
    view
      .map((e) => `${e.id} ${e.master ? 'master' : `replica-of ${e.masterId ?? '-'}`} ${e.slots.map(([lo, hi]) => `${lo}-${hi}`).join(',')}`)
      .sort()
      .join('\n');
  const [first, ...rest] = views.map(canon);
  return rest.every((v) => v === first);
}
