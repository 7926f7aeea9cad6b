/**
 * A linearizability checker for a single register (one key), after Wing & Gong's
 * search with Lowe's memoisation ("Testing for linearizability", 2017), the
 * algorithm Porcupine and Knossos use.
 *
 * The register holds a value or nothing (null). Operations:
 * - put(v): always succeeds;
 * - del: says whether the key existed, and leaves nothing;
 * - get: returns the value, or null.
 * Linearizability is local (Herlihy & Wing), so a multi-key history is checked one
 * key at a time. Unique put values keep the search small.
 */

export type RegisterOp =
  | { readonly kind: 'put'; readonly value: string }
  | { readonly kind: 'del'; readonly existed: boolean }
  | { readonly kind: 'get'; readonly value: string | null };

export interface HistoryEntry {
  readonly op: RegisterOp;
  /** When the client sent the request (performance.now()). */
  readonly invoke: number;
  /** When the client had the whole reply; at least `invoke`. */
  readonly response: number;
  /** For error messages: who did it. */
  readonly client?: string;
}

export interface CheckResult {
  readonly ok: boolean;
  /** Operations tried: a measure of how hard the search worked. */
  readonly steps: number;
  /** On failure, the longest prefix of operations that could be linearized (indices into the history). */
  readonly longestPrefix?: readonly number[];
}

type State = string | null;

/** Applies an operation to the register: null when the result could not have come from `state`. */
function step(state: State, op: RegisterOp): { state: State } | null {
  switch (op.kind) {
    case 'put':
      return { state: op.value };
    case 'del':
      return op.existed === (state !== null) ? { state: null } : null;
    case 'get':
      return op.value === state ? { state } : null;
  }
}

interface Node {
  /** Index of the operation in the history. */
  readonly id: number;
  readonly isCall: boolean;
  /** A call's return node. */
  match: Node | null;
  prev: Node | null;
  next: Node | null;
}

/** The call and return events of every operation, in time order, as a doubly linked list behind a sentinel. */
function buildEvents(history: readonly HistoryEntry[]): Node {
  const events: Array<{ t: number; isCall: boolean; id: number }> = [];
  history.forEach((h, id) => {
    if (!(h.response >= h.invoke)) throw new Error(`operation ${id} returns (${h.response}) before it is invoked (${h.invoke})`);
    events.push({ t: h.invoke, isCall: true, id }, { t: h.response, isCall: false, id });
  });
  // At equal times calls come first: operations that touch are taken as concurrent, never ordered.
  events.sort((a, b) => a.t - b.t || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Node = { id: -1, isCall: false, match: null, prev: null, next: null };
  const calls = new Map<number, Node>();
  let last = head;
  for (const e of events) {
    const node: Node = { id: e.id, isCall: e.isCall, match: null, prev: last, next: null };
    last.next = node;
    last = node;
    if (e.isCall) calls.set(e.id, node);
    else (calls.get(e.id) as Node).match = node;
  }
  return head;
}

/** Takes a call and its return out of the list. */
function lift(call: Node): void {
  (call.prev as Node).next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match as Node;
  (ret.prev as Node).next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts them back, in the reverse order of lift. */
function unlift(call: Node): void {
  const ret = call.match as Node;
  (ret.prev as Node).next = ret;
  if (ret.next) ret.next.prev = ret;
  (call.prev as Node).next = call;
  if (call.next) call.next.prev = call;
}

/**
 * Whether some total order of the operations (1) respects real time: an operation
 * that returned before another was invoked comes first, and (2) is a legal
 * sequential run of the register from `initial`, every result agreeing.
 */
export function checkRegisterHistory(history: readonly HistoryEntry[], initial: State = null, maxSteps = 5_000_000): CheckResult {
  const head = buildEvents(history);
  let linearized = 0n;
  const seen = new Set<string>();
  const stack: Array<{ call: Node; state: State }> = [];
  let state: State = initial;
  let entry = head.next;
  let steps = 0;
  let longest: number[] = [];

  while (head.next !== null) {
    if (++steps > maxSteps) throw new Error(`linearizability search gave up after ${maxSteps} steps; use a shorter history`);
    const e = entry as Node;
    if (e.isCall) {
      const next = step(state, history[e.id]?.op as RegisterOp);
      if (next !== null) {
        const lin = linearized | (1n << BigInt(e.id));
        const key = `${lin.toString(36)}|${next.state === null ? '-' : '+' + next.state}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ call: e, state });
          state = next.state;
          linearized = lin;
          lift(e);
          entry = head.next;
          continue;
        }
      }
      entry = e.next;
    } else {
      // A return whose call is not linearized yet: every order so far fails here. Backtrack.
      if (stack.length > longest.length) longest = stack.map((s) => s.call.id);
      const top = stack.pop();
      if (top === undefined) return { ok: false, steps, longestPrefix: longest };
      state = top.state;
      linearized &= ~(1n << BigInt(top.call.id));
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return { ok: true, steps };
}

/** A readable account of a failed check, for test failure messages. */
export function describeFailure(history: readonly HistoryEntry[], result: CheckResult): string {
  const prefix = result.longestPrefix ?? [];
  const shown = prefix.slice(-10).map((id) => {
    const h = history[id] as HistoryEntry;
    return `  #${id} ${h.client ?? ''} ${JSON.stringify(h.op)} [${h.invoke.toFixed(3)}, ${h.response.toFixed(3)}]`;
  });
  return `not linearizable: at most ${prefix.length} of ${history.length} operations fit a legal order; the last of them:\n${shown.join('\n')}`;
}
