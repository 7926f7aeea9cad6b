/** The types of cluster-key-slot (ioredis's own slot function), which ships none. */
declare module 'cluster-key-slot' {
  /** Redis Cluster's hash slot (0–16383) of a key, honouring hash tags; a string is read as UTF-8. */
  export default function calculateSlot(key: string | Buffer): number;
}
