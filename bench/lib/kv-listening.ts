/** Reading kv-server's `listening` log line, which gives the ports it picked for port 0. */

/**
 * The `httpPort` of the first `listening` line in `text` (kv-server's JSON log lines),
 * or null when there is none yet. A line cut short at the end of the text is skipped:
 * the file may be read while the server is still writing it.
 */
export function httpPortFromLog(text: string): number | null {
  for (const line of text.split('\n')) {
    if (!line.includes('"listening"')) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const { msg, httpPort } = entry as { msg?: unknown; httpPort?: unknown };
    if (msg === 'listening' && typeof httpPort === 'number' && Number.isInteger(httpPort) && httpPort > 0) return httpPort;
  }
  return null;
}
