/**
 * A front-end: it owns its sockets, framing, limits and backpressure, and reaches the
 * data only through the command table. Adding one is a new folder under
 * src/frontends/ and one line in KvServer's list.
 */
export interface Frontend {
  /** `tcp`, `udp`, …: the name its port is reported under. */
  readonly name: string;
  /** Opens the listener; resolves with the bound port. */
  listen(): Promise<number>;
  /** Stops accepting, lets in-flight requests finish for up to `timeoutMs`, then closes. */
  close(timeoutMs: number): Promise<void>;
}
