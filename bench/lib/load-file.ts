/**
 * Files of RESP commands for `redis-cli --pipe`, written in 1 MiB batches: the way
 * the benchmarks load a million keys into both servers alike.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** Writes `command(i)` for i in [0, count), each as a RESP array of bulk strings (latin1). */
export async function writeCommandFile(file: string, count: number, command: (i: number) => readonly string[]): Promise<void> {
  const out = createWriteStream(file);
  let batch = '';
  for (let i = 0; i < count; i++) {
    const words = command(i);
    batch += `*${words.length}\r\n`;
    for (const w of words) batch += `$${w.length}\r\n${w}\r\n`;
    if (batch.length > 1 << 20) {
      if (!out.write(batch, 'latin1')) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch, 'latin1');
  await once(out, 'finish');
}
