import type { ClientRegistry, Session } from './types.js';

/** The stream clients (TCP and HTTP) by id, in the order they connected (a Map keeps insertion order). */
export class Clients implements ClientRegistry {
  private readonly byIds = new Map<number, Session>();
  private lastId = 0;

  nextId(): number {
    return ++this.lastId;
  }

  add(session: Session): void {
    this.byIds.set(session.id, session);
  }

  remove(session: Session): void {
    this.byIds.delete(session.id);
  }

  sessions(): Iterable<Session> {
    return this.byIds.values();
  }

  byId(id: number): Session | undefined {
    return this.byIds.get(id);
  }
}
