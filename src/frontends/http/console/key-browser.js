// The key list: GET /v1/kv?prefix=&cursor=&limit= page by page (docs/HTTP.md §3.5), then
// the prefix's changes as they happen over /v1/changes as Server-Sent Events (§6.3), from
// the revision the listing was as of, so that no change after the listing is missed. The
// stream is read with fetch() (sse.js), since EventSource cannot send the Authorization header.

import { api, errorText } from './api.js';
import { describeKey, encodeKeyBytes, utf8Bytes } from './key-bytes.js';
import { readEventStream } from './sse.js';

const PAGE_LIMIT = 100;
/** A click on List or More shows at least this many keys when there are that many (pages may be short). */
const SHOW_AT_LEAST = 50;
/** …and reads at most this many pages for it. */
const PAGES_PER_CLICK = 20;
/** After the stream fails, wait this long before watching again. */
const RETRY_MS = 2000;

const $ = (id) => document.getElementById(id);
/** Keys in the order people read them: user:2 before user:10. */
const ORDER = new Intl.Collator(undefined, { numeric: true });

export class KeyBrowser {
  /** @param {import('./key-editor.js').KeyEditor} editor */
  constructor(editor) {
    this.editor = editor;
    /** Percent-encoded keys shown (the listing's own spelling, so they go back unchanged). */
    this.keys = new Set();
    this.prefix = '';
    this.cursor = null;
    this.selected = null;
    this.watch = null;
    this.generation = 0;
    this.list = $('key-list');
    this.status = $('list-status');
    $('list-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.start(encodeKeyBytes(utf8Bytes($('prefix').value)));
    });
    $('more').addEventListener('click', () => void this.readPages(this.generation));
    $('new-key').addEventListener('click', () => {
      this.select(null);
      editor.startNew();
    });
  }

  /** Lists the keys under `prefix` (percent-encoded) from the start, and watches them from there. */
  async start(prefix) {
    const generation = ++this.generation;
    this.stopWatching();
    this.prefix = prefix;
    this.cursor = '0';
    this.keys.clear();
    this.render();
    const revision = await this.readPages(generation);
    if (revision !== null && generation === this.generation) this.startWatching(revision, generation);
  }

  /** Reads pages until enough keys show or the listing ends; the first page's revision, or null on failure. */
  async readPages(generation) {
    let revision = null;
    const before = this.keys.size;
    try {
      for (let pages = 0; pages < PAGES_PER_CLICK && this.cursor !== null && this.keys.size - before < SHOW_AT_LEAST; pages++) {
        const cursor = this.cursor === '0' ? '' : `&cursor=${encodeKeyBytes(utf8Bytes(this.cursor))}`;
        this.status.textContent = 'listing…';
        const res = await api(`/v1/kv?prefix=${this.prefix}&limit=${PAGE_LIMIT}${cursor}`);
        if (generation !== this.generation) return null;
        if (!res.ok) {
          const why = res.status === 401 ? 'sign in to see the keys' : `cannot list: ${await errorText(res)}${res.status === 400 ? ' (press List to start again)' : ''}`;
          this.status.textContent = why;
          return null;
        }
        revision ??= res.headers.get('X-Dualkv-Revision');
        const page = await res.json();
        for (const k of page.keys) this.keys.add(k);
        this.cursor = page.cursor;
      }
    } catch (err) {
      this.status.textContent = `cannot list: ${err instanceof Error ? err.message : String(err)}`;
      return null;
    }
    this.render();
    return revision;
  }

  render() {
    const items = [...this.keys].map((k) => ({ key: k, ...describeKey(k) })).sort((a, b) => ORDER.compare(a.text, b.text));
    this.list.replaceChildren(
      ...items.map(({ key, text, binary }) => {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.type = 'button';
        b.className = binary ? 'key binary' : 'key';
        b.textContent = text;
        b.title = `/v1/kv/${key}`;
        b.dataset.key = key;
        if (key === this.selected) b.setAttribute('aria-current', 'true');
        b.addEventListener('click', () => {
          this.select(key);
          void this.editor.open(key);
        });
        li.append(b);
        return li;
      }),
    );
    const n = this.keys.size;
    const more = this.cursor !== null;
    $('more').hidden = !more;
    this.status.textContent = `${n === 0 ? 'no keys' : n === 1 ? '1 key' : `${n} keys`}${more ? ' so far (More reads on)' : ''}${this.prefix === '' ? '' : ' with this prefix'}`;
  }

  select(key) {
    this.selected = key;
    for (const b of this.list.querySelectorAll('button.key')) {
      if (b.dataset.key === key) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
  }

  /** A key that now exists: listed when it is under the prefix. */
  added(key) {
    if (!key.startsWith(this.prefix) || this.keys.has(key)) return;
    this.keys.add(key);
    this.render();
  }

  /** The editor stored a key: the list follows at once, without waiting on the stream. */
  stored(key) {
    this.added(key);
    this.select(key);
  }

  deleted(key) {
    if (this.keys.delete(key)) this.render();
  }

  startWatching(since, generation) {
    const watch = new AbortController();
    this.watch = watch;
    /** The id of the last change seen: where watching again starts. */
    let at = since;
    const watchStatus = $('watch-status');
    const onChange = (e) => {
      const change = JSON.parse(e.data);
      if (change.op === 'put') this.added(change.key);
      else if (change.op === 'del') this.deleted(change.key);
      else if (change.op === 'flush') {
        this.keys.clear();
        this.render();
      }
      this.editor.changedElsewhere(change);
    };
    const handlers = {
      put: onChange,
      del: onChange,
      expire: onChange,
      flush: onChange,
      // Too slow for the changes: the server ended the stream; go on from where it says.
      dropped: (e) => {
        this.stopWatching();
        this.startWatching(JSON.parse(e.data).revision ?? at, generation);
      },
      // The history no longer reaches back that far: read the keys again.
      compacted: () => {
        watchStatus.textContent = 'missed changes; listing again';
        void this.start(this.prefix);
      },
    };
    const follow = async () => {
      const res = await api(`/v1/changes?prefix=${this.prefix}&since=${since}`, { headers: { Accept: 'text/event-stream' }, signal: watch.signal });
      if (res.status === 401) {
        // Signing in lists and watches again.
        watchStatus.textContent = 'sign in to follow changes';
        await res.arrayBuffer();
        return false;
      }
      if (!res.ok) throw new Error(await errorText(res));
      watchStatus.textContent = 'following changes live';
      await readEventStream(res, (e) => {
        if (this.watch !== watch) return;
        if (e.id !== '') at = e.id;
        handlers[e.type]?.(e);
      });
      return true;
    };
    // A stream that ends or fails (the server restarted, say) is watched again from the last change seen.
    const again = () => {
      if (this.watch !== watch) return; // stopped, or started again from an event
      this.stopWatching();
      watchStatus.textContent = 'lost the change stream; trying again';
      setTimeout(() => {
        if (generation === this.generation && this.watch === null) this.startWatching(at, generation);
      }, RETRY_MS);
    };
    void follow().then(
      (retry) => {
        if (retry) again();
        else if (this.watch === watch) this.watch = null;
      },
      again,
    );
  }

  stopWatching() {
    this.watch?.abort();
    this.watch = null;
  }
}
