// Server-Sent Events read from a fetch() body, as the HTML standard's event stream
// interpretation reads them (html.spec.whatwg.org, "Server-sent events", 9.2.6): EventSource
// cannot send an Authorization header, so the console reads /v1/changes itself.

/** Line ends are CR LF, LF or CR alone. */
const LINE_END = /\r\n|\r|\n/g;

/**
 * Text in, events out: `{ type, data, id }` for each event a blank line completes. `id` is
 * the last event ID as it stands at that event (it carries over events that give none);
 * `retry` holds the last reconnection time the stream asked for, or null.
 */
export class SseParser {
  constructor() {
    this.lastEventId = '';
    this.retry = null;
    this.partial = '';
    this.type = '';
    this.data = null;
    /** A chunk ended in CR: a LF that starts the next one belongs to that line end. */
    this.skipLf = false;
    this.started = false;
  }

  /** Takes the next piece of the stream's text; returns the events it completes. */
  push(text) {
    let s = text;
    if (this.skipLf && s !== '') {
      this.skipLf = false;
      if (s.startsWith('\n')) s = s.slice(1);
    }
    if (!this.started && s !== '') {
      this.started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    s = this.partial + s;
    const events = [];
    let start = 0;
    LINE_END.lastIndex = 0;
    for (let m = LINE_END.exec(s); m !== null; m = LINE_END.exec(s)) {
      this.line(s.slice(start, m.index), events);
      start = m.index + m[0].length;
      if (m[0] === '\r' && start === s.length) this.skipLf = true;
    }
    this.partial = s.slice(start);
    return events;
  }

  line(line, events) {
    if (line === '') return this.dispatch(events);
    if (line.startsWith(':')) return; // a comment (the server's keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data = this.data === null ? value : `${this.data}\n${value}`;
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastEventId = value;
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value)) this.retry = Number(value);
    }
    // Any other field is ignored.
  }

  /** A blank line: the event so far, if it has data; an event with no data line is dropped. */
  dispatch(events) {
    if (this.data !== null) events.push({ type: this.type === '' ? 'message' : this.type, data: this.data, id: this.lastEventId });
    this.type = '';
    this.data = null;
  }
}

/**
 * Reads an event stream from a fetch() Response, calling `onEvent` for each event, until the
 * stream ends (an event not completed by then is dropped, as the standard says). Rejects when
 * reading fails, an aborted fetch included.
 */
export async function readEventStream(res, onEvent) {
  const parser = new SseParser();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    for (const event of parser.push(value)) onEvent(event);
  }
}
