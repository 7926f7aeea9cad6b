// One key: its value, version and time to live (GET /v1/kv/{key}), saved with
// compare-and-set (PUT with If-Match: "<version>", or If-None-Match: * for a new key) and
// deleted the same way (DELETE with If-Match). docs/HTTP.md §3. A 412 says what the key
// is now and offers to reload it; the edit stays in the box until then.

import { api, errorText } from './api.js';
import { describeKey, editableText, encodeKeyBytes, formatBytes, parseHex, toHex, utf8Bytes } from './key-bytes.js';

const $ = (id) => document.getElementById(id);

/** `"42"` → `42` (versions stay strings: they are 64-bit). */
const versionOf = (etag) => (etag ?? '').replace(/^"|"$/g, '');
const newer = (a, b) => BigInt(a) > BigInt(b);

function describeExpiry(expiresAt) {
  if (expiresAt === null) return 'never';
  const left = expiresAt - Date.now();
  if (left <= 0) return `expired at ${new Date(expiresAt).toLocaleTimeString()}`;
  const s = Math.ceil(left / 1000);
  const span = s < 120 ? `${s} s` : s < 7200 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `in ${span} (${new Date(expiresAt).toLocaleString()})`;
}

export class KeyEditor {
  /** @param {{ onStored: (key: string) => void, onDeleted: (key: string) => void }} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** The key open (percent-encoded, as the listing gives it), or null for a new key. */
    this.key = null;
    this.version = null;
    this.expiresAt = null;
    this.form = $('editor');
    this.value = $('editor-value');
    this.format = $('editor-format');
    this.ttl = $('editor-ttl');
    this.message = $('editor-message');
    /** The version of a change made elsewhere that the notice tells of. */
    this.pendingVersion = null;
    // A request that could not be made at all (the server is gone) is said in the form, not thrown.
    const run = (f) => () => f().catch((err) => this.say(`Cannot reach the server (${err instanceof Error ? err.message : String(err)}).`, true));
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      run(() => this.save())();
    });
    this.format.addEventListener('change', () => this.switchFormat());
    for (const id of ['editor-reload', 'editor-notice-reload', 'editor-conflict-reload']) $(id).addEventListener('click', run(() => this.reload()));
    $('editor-delete').addEventListener('click', () => this.askDelete(true));
    $('editor-delete-no').addEventListener('click', () => this.askDelete(false));
    $('editor-delete-yes').addEventListener('click', run(() => this.remove()));
    this.run = run;
    setInterval(() => {
      if (this.key !== null && this.expiresAt !== null) $('editor-expiry').textContent = describeExpiry(this.expiresAt);
    }, 1000);
  }

  /** Shows a blank form for a key that does not exist yet. */
  startNew() {
    this.key = null;
    this.version = null;
    this.expiresAt = null;
    this.show();
    $('editor-title').textContent = 'New key';
    this.setValue(new Uint8Array(0));
    this.ttl.value = '';
    $('editor-new-key').value = '';
    $('editor-new-key').focus();
  }

  /** Opens a key (percent-encoded) and reads it. */
  async open(key) {
    this.key = key;
    this.show();
    $('editor-title').textContent = 'Key';
    await this.run(() => this.reload())();
  }

  /** Reads the open key again: value, version, expiry. The edit box takes the server's value. */
  async reload() {
    const key = this.key;
    if (key === null) return;
    const res = await api(`/v1/kv/${key}`);
    if (key !== this.key) return;
    this.hide('editor-notice', 'editor-conflict');
    this.pendingVersion = null;
    this.askDelete(false);
    if (res.status === 404) {
      await res.text();
      this.version = null;
      this.expiresAt = null;
      this.fillMeta(null, null);
      this.setValue(new Uint8Array(0));
      this.say('This key does not exist (any more). Saving creates it.', true);
      return;
    }
    if (!res.ok) return this.say(`Cannot read it: ${await errorText(res)}`, true);
    const bytes = new Uint8Array(await res.arrayBuffer());
    this.version = versionOf(res.headers.get('ETag'));
    const expires = res.headers.get('X-Dualkv-Expires-At');
    this.expiresAt = expires === null ? null : Number(expires);
    this.fillMeta(this.version, bytes.length);
    this.setValue(bytes);
    // Saving keeps the expiry unless it is changed: a PUT without ttl would clear it (as SET does).
    this.ttl.value = this.expiresAt === null ? '' : String(Math.max(1, Math.ceil((this.expiresAt - Date.now()) / 1000)));
    this.say('');
  }

  /** A change the watch saw (docs/HTTP.md §6.3) to the key open here, made elsewhere. */
  changedElsewhere(change) {
    if (this.key === null || (change.key !== this.key && change.op !== 'flush')) return;
    // Our own write comes back on the stream too.
    if (this.version !== null && !newer(change.version, this.version)) return;
    const what = change.op === 'del' || change.op === 'flush' ? 'deleted' : change.op === 'expire' ? 'given a new expiry' : `written (now version ${change.version})`;
    this.pendingVersion = change.version;
    $('editor-notice-text').textContent = `This key was ${what} on the server since you opened it.`;
    $('editor-notice').hidden = false;
  }

  async save() {
    const body = this.readValue();
    if (body === null) return this.say('The value is not hex bytes (pairs of 0-9 a-f): fix it, or show it as text.', true);
    let key = this.key;
    if (key === null) {
      const name = $('editor-new-key').value;
      if (name === '') return this.say('Give the new key a name.', true);
      key = encodeKeyBytes(utf8Bytes(name));
    }
    const ttl = this.ttl.value.trim();
    if (ttl !== '' && !/^[1-9][0-9]*$/.test(ttl)) return this.say('The time to live is a whole number of seconds above 0, or empty for none.', true);
    const headers = this.key === null || this.version === null ? { 'If-None-Match': '*' } : { 'If-Match': `"${this.version}"` };
    const res = await api(`/v1/kv/${key}${ttl === '' ? '' : `?ttl=${ttl}`}`, { method: 'PUT', headers, body });
    if (res.status === 412) return this.conflict(res, 'saved');
    if (!res.ok) return this.say(`Not saved: ${await errorText(res)}`, true);
    const { version } = await res.json();
    const created = this.key === null;
    this.key = key;
    this.version = version;
    this.expiresAt = ttl === '' ? null : Date.now() + Number(ttl) * 1000;
    if (created) {
      // From here on it is an existing key: its name, version and Delete show.
      this.show();
      $('editor-title').textContent = 'Key';
    }
    this.fillMeta(version, body.length);
    this.hide('editor-conflict');
    if (this.pendingVersion !== null && !newer(this.pendingVersion, version)) this.hide('editor-notice');
    this.say(`${created ? 'Created' : 'Saved'}: version ${version}.`);
    this.hooks.onStored(key);
  }

  askDelete(ask) {
    $('editor-delete-question').textContent = `Delete version ${this.version ?? '?'} of this key?`;
    $('editor-delete-confirm').hidden = !ask;
    $('editor-delete').hidden = ask;
    if (ask) $('editor-delete-no').focus();
  }

  async remove() {
    const key = this.key;
    this.askDelete(false);
    if (key === null || this.version === null) return this.say('There is nothing to delete: the key does not exist.', true);
    const res = await api(`/v1/kv/${key}`, { method: 'DELETE', headers: { 'If-Match': `"${this.version}"` } });
    if (res.status === 412) return this.conflict(res, 'deleted');
    if (!res.ok && res.status !== 404) return this.say(`Not deleted: ${await errorText(res)}`, true);
    // Read to its (empty) end: a response left unread counts as an aborted request.
    await res.text();
    this.hooks.onDeleted(key);
    this.key = null;
    this.form.hidden = true;
    $('editor-empty').hidden = false;
    $('editor-empty').textContent = `Deleted ${describeKey(key).text}.`;
  }

  /** 412: the key is not at the version this edit began from. */
  async conflict(res, verb) {
    let current = '0';
    try {
      current = (await res.json()).error.version ?? '0';
    } catch {
      // The status says enough.
    }
    const now = current === '0' ? 'it does not exist now' : `it is at version ${current} now`;
    const had = this.version === null ? 'you expected it not to exist' : `you opened version ${this.version}`;
    $('editor-conflict-text').textContent = `Conflict: not ${verb}. The key changed on the server: ${had}, ${now}. Your edit is still in the box; reload to see the current value.`;
    $('editor-conflict').hidden = false;
    this.say('');
  }

  show() {
    this.form.hidden = false;
    $('editor-empty').hidden = true;
    const isNew = this.key === null;
    $('editor-key-row').hidden = isNew;
    $('editor-new-key-row').hidden = !isNew;
    $('editor-meta').hidden = isNew;
    $('editor-delete').hidden = isNew;
    this.hide('editor-notice', 'editor-conflict', 'editor-delete-confirm');
    if (!isNew) {
      const { text, binary } = describeKey(this.key);
      const name = $('editor-key');
      name.textContent = text;
      name.title = `in a URL: /v1/kv/${this.key}`;
      name.classList.toggle('binary', binary);
    }
    this.say('');
  }

  fillMeta(version, size) {
    $('editor-version').textContent = version ?? '— (absent)';
    $('editor-size').textContent = size === null ? '—' : formatBytes(size);
    $('editor-expiry').textContent = describeExpiry(this.expiresAt);
  }

  /** Text when it can be saved back byte for byte as text, else hex. */
  setValue(bytes) {
    const text = editableText(bytes);
    this.format.value = text === null ? 'hex' : 'text';
    this.value.value = text ?? toHex(bytes);
    this.format.dataset.was = this.format.value;
  }

  /** The value's bytes as the box holds them, or null when hex mode holds something else. */
  readValue(format = this.format.value) {
    return format === 'hex' ? parseHex(this.value.value) : utf8Bytes(this.value.value);
  }

  switchFormat() {
    const bytes = this.readValue(this.format.dataset.was);
    if (bytes === null) {
      this.format.value = this.format.dataset.was;
      return this.say('The box does not hold hex bytes, so it cannot be shown as text.', true);
    }
    if (this.format.value === 'text') {
      const text = editableText(bytes);
      if (text === null) {
        this.format.value = 'hex';
        return this.say('These bytes are not UTF-8 text (or hold a carriage return): they stay hex.', true);
      }
      this.value.value = text;
    } else this.value.value = toHex(bytes);
    this.format.dataset.was = this.format.value;
    this.say('');
  }

  hide(...ids) {
    for (const id of ids) $(id).hidden = true;
  }

  say(text, bad = false) {
    this.message.textContent = text;
    this.message.classList.toggle('bad', bad);
  }
}
