import { close, fstat as fstatCb, fstatSync, mkdirSync, open as openCb, openSync, readdirSync, renameSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ByteWriter } from './log-destination.js';
import { writeFd } from './log-stdout.js';

/** How often the file is checked for having been deleted (with its directory, say): writes to it would vanish. */
const CHECK_MS = 1000;
const FILE_NAME = /^dualkv\.(\d+)\.log$/;
const LINK_NAME = 'current.log';
const LINK_TMP = `${LINK_NAME}.tmp`;
// Raw fds, not fs/promises FileHandles, which close their fd when garbage-collected.
const open = promisify(openCb);
const fstat = promisify(fstatCb);

/**
 * The rotated log file: dualkv.N.log in the log directory, N rising, current.log
 * a symlink to the newest, and `keep` older files kept beside it. A file never
 * grows past `maxSize`: each write is cut at the last whole line that fits, and
 * the rest goes to the next file; only a single line longer than `maxSize` goes,
 * alone, into a fresh file. (This replaces pino-roll, which buffered without
 * bound through SonicBoom and rolled only on its 'drain', so files ran far over
 * their size under load.) Writes are asynchronous; a rotation opens, links and
 * prunes between two of them.
 */
export class RotatingLogFile implements ByteWriter {
  rotations = 0;
  private fd: number;
  private number: number;
  private size: number;
  private ino: number;
  private dev: number;
  /** Bytes of the current write, as planned, still to go into this file: a partial write continues it here. */
  private planned = 0;
  private linked = -1;
  private nextCheck = Date.now() + CHECK_MS;
  private writing = false;
  private closed = false;

  /** Opens the newest existing file to append to it, or dualkv.1.log. Synchronous: it runs once, before serving. */
  static openSync(dir: string, maxSize: number, keep: number): RotatingLogFile {
    mkdirSync(dir, { recursive: true });
    const numbers = fileNumbers(readdirSync(dir));
    const number = numbers[0] ?? 1;
    const fd = openSync(path.join(dir, fileName(number)), 'a');
    const file = new RotatingLogFile(dir, maxSize, keep, fd, number, fstatSync(fd));
    for (const n of numbers.slice(keep + 1)) rmSync(path.join(dir, fileName(n)), { force: true });
    rmSync(path.join(dir, LINK_TMP), { force: true });
    symlinkSync(fileName(number), path.join(dir, LINK_TMP));
    renameSync(path.join(dir, LINK_TMP), path.join(dir, LINK_NAME));
    file.linked = number;
    return file;
  }

  private constructor(
    readonly dir: string,
    private readonly maxSize: number,
    private readonly keep: number,
    fd: number,
    number: number,
    st: Stats,
  ) {
    this.fd = fd;
    this.number = number;
    this.size = st.size;
    this.ino = st.ino;
    this.dev = st.dev;
  }

  /** The file written now. */
  get current(): string {
    return path.join(this.dir, fileName(this.number));
  }

  async write(bytes: Buffer): Promise<number> {
    if (this.closed) throw new Error('the log file is closed');
    this.writing = true;
    try {
      if (Date.now() >= this.nextCheck) await this.reopenIfGone();
      if (this.linked !== this.number) await this.link();
      if (this.planned === 0) this.planned = await this.plan(bytes);
      const n = await writeFd(this.fd, bytes, this.planned);
      this.size += n;
      this.planned -= n;
      return n;
    } finally {
      this.writing = false;
      if (this.closed) close(this.fd, () => undefined);
    }
  }

  recover(): Promise<boolean> {
    return this.reopenIfGone().then(() => true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.writing) close(this.fd, () => undefined);
  }

  /** How many bytes of `bytes` go into this file, rotating first when not one whole line fits. */
  private async plan(bytes: Buffer): Promise<number> {
    for (;;) {
      const room = this.maxSize - this.size;
      if (bytes.length <= room) return bytes.length;
      const cut = room > 0 ? bytes.lastIndexOf(0x0a, room - 1) + 1 : 0;
      if (cut > 0) return cut;
      if (this.size === 0) {
        const nl = bytes.indexOf(0x0a);
        return nl < 0 ? bytes.length : nl + 1;
      }
      await this.rotate();
    }
  }

  private async rotate(): Promise<void> {
    const next = this.number + 1;
    await this.install(path.join(this.dir, fileName(next)), next);
    this.rotations++;
    await this.link();
    const old = fileNumbers(await readdir(this.dir)).filter((n) => n < next);
    await Promise.all(old.slice(this.keep).map((n) => rm(path.join(this.dir, fileName(n)), { force: true })));
  }

  /** Opens `file` (number `number`) for appending and writes there from now on. */
  private async install(file: string, number: number): Promise<void> {
    const fd = await open(file, 'a');
    let st: Stats;
    try {
      st = await fstat(fd);
    } catch (err) {
      close(fd, () => undefined);
      throw err;
    }
    const old = this.fd;
    this.fd = fd;
    this.number = number;
    this.size = st.size;
    this.ino = st.ino;
    this.dev = st.dev;
    this.planned = 0;
    close(old, () => undefined);
  }

  /**
   * Opens the file again when its name no longer leads to it (deleted, its
   * directory removed) or the fd is no good (EBADF): writes would otherwise go
   * on succeeding into nothing.
   */
  private async reopenIfGone(): Promise<void> {
    this.nextCheck = Date.now() + CHECK_MS;
    const st = await stat(this.current).catch(() => null);
    const fdOk = await fstat(this.fd).then(
      () => true,
      () => false,
    );
    if (st !== null && fdOk && st.ino === this.ino && st.dev === this.dev) return;
    await mkdir(this.dir, { recursive: true });
    await this.install(this.current, this.number);
    this.linked = -1;
  }

  /** Points current.log at the file written now; rename makes the switch atomic. */
  private async link(): Promise<void> {
    const tmp = path.join(this.dir, LINK_TMP);
    await rm(tmp, { force: true });
    await symlink(fileName(this.number), tmp);
    await rename(tmp, path.join(this.dir, LINK_NAME));
    this.linked = this.number;
  }
}

function fileName(n: number): string {
  return `dualkv.${n}.log`;
}

/** The numbers of the log files among `names`, newest first. */
function fileNumbers(names: string[]): number[] {
  const out: number[] = [];
  for (const name of names) {
    const m = FILE_NAME.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => b - a);
}
