/**
 * A linearizability checker for a single register (one key), after Wing & Gong's
 * search with Lowe's memoisation ("Testing for linearizability", 2017), the
 * algorithm Porcupine and Knossos use.
 *
 * The register holds a value or nothing (null), and a version (0 while it holds
 * nothing). Operations:
 * - put(v): always succeeds, and gives the key a new version that it does not report;
 * - del: says whether the key existed, and leaves nothing;
 * - get: returns the value, or null;
 * - getver: returns the value and its version (null and 0 when absent);
 * - cas(expected, v): a write conditional on the version (docs/PROTOCOL.md §2.2):
 *   applied only while the version is `expected` (0: absent), reporting the new
 *   version; else it changes nothing and reports the current one.
 * A version nobody reported yet (after a put) is taken as whatever the first
 * operation that shows it says, within that order of the search. Versions must
 * grow along the order: each new one above every one before it (the server-wide
 * revision of the docs).
 * Linearizability is local (Herlihy & Wing), so a multi-key history is checked one
 * key at a time. Unique put values keep the search small.
 */

export type RegisterOp =
  | { readonly kind: 'put'; readonly value: string }
  | { readonly kind: 'del'; readonly existed: boolean }
  | { readonly kind: 'get'; readonly value: string | null }
  | { readonly kind: 'getver'; readonly value: string | null; readonly version: number }
  | { readonly kind: 'cas'; readonly expected: number; readonly value: string; readonly applied: boolean; readonly version: number };

/**
 * The response time of an operation whose reply was lost (a dropped connection, a timeout):
 * it may take effect at any point after its invocation, or never, which for a write is the
 * same as taking effect after every other operation (Knossos's and Porcupine's "info" ops).
 */
export const UNKNOWN_RESPONSE = Number.POSITIVE_INFINITY;

export interface HistoryEntry {
  readonly op: RegisterOp;
  /** When the client sent the request (performance.now()). */
  readonly invoke: number;
  /** When the client had the whole reply; at least `invoke`; UNKNOWN_RESPONSE when it never came. */
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

interface State {
  readonly value: string | null;
  /** The current version: 0 while absent, null when a put gave it one nobody has reported yet. */
  readonly version: number | null;
  /** The highest version known so far in this order: a new version must be above it. */
  readonly floor: number;
}

const EMPTY: State = { value: null, version: 0, floor: 0 };

function stateKey(s: State): string {
  return `${s.value === null ? '-' : '+' + s.value}|${s.version ?? '?'}|${s.floor}`;
}

/** The state with its version taken as `version`, or null when it cannot be that. */
function withVersion(state: State, version: number): State | null {
  if (state.version !== null) return state.version === version ? state : null;
  return version > state.floor ? { ...state, version, floor: version } : null;
}

/** Applies an operation to the register: null when the result could not have come from `state`. */
function step(state: State, op: RegisterOp): { state: State } | null {
  switch (op.kind) {
    case 'put':
      return { state: { value: op.value, version: null, floor: state.floor } };
    case 'del':
      return op.existed === (state.value !== null) ? { state: { value: null, version: 0, floor: state.floor } } : null;
    case 'get':
      return op.value === state.value ? { state } : null;
    case 'getver': {
      if (op.value !== state.value) return null;
      const next = withVersion(state, op.version);
      return next === null ? null : { state: next };
    }
    case 'cas': {
      if (op.applied) {
        const before = withVersion(state, op.expected);
        if (before === null || op.version <= before.floor) return null;
        return { state: { value: op.value, version: op.version, floor: op.version } };
      }
      // Not applied: the reply shows the current version, which is not the one expected.
      const now = withVersion(state, op.version);
      return now === null || op.version === op.expected ? null : { state: now };
    }
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
export function checkRegisterHistory(history: readonly HistoryEntry[], initial: string | null = null, maxSteps = 5_000_000): CheckResult {
  const head = buildEvents(history);
  let linearized = 0n;
  const seen = new Set<string>();
  const stack: Array<{ call: Node; state: State }> = [];
  // A key that starts with a value has some version nobody has reported yet.
  let state: State = initial === null ? EMPTY : { value: initial, version: null, floor: 0 };
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
        const key = `${lin.toString(36)}|${stateKey(next.state)}`;
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
