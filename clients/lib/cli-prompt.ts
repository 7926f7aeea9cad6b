import readline from 'node:readline';
import { splitArgs } from '../../src/protocol/split-args.js';

export interface PromptOptions {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  /** Shown before each line when the input is a terminal. */
  readonly prompt: string;
  /** Line editing, history and a prompt: only for a person at a terminal. */
  readonly terminal: boolean;
  /** Runs one command; resolves to 'quit' to end the session. */
  run(args: Buffer[]): Promise<'quit' | void>;
  /** Reports a line that cannot be split (unbalanced quotes). */
  onBadLine(message: string): Promise<void> | void;
}

/** Words that end a session without reaching the server. */
const QUIT_WORDS = new Set(['quit', 'exit']);

/**
 * A line of the interactive prompt as arguments, quoted the way the server's text
 * dialect and redis-cli read it (src/protocol/split-args.ts): `"double quotes"`
 * with `\n \r \t \" \\ \xHH`, `'single quotes'`, and spaces between arguments.
 *
 * The line is turned into UTF-8 bytes before it is split, so that typed text
 * keeps its UTF-8 encoding while `\xHH` escapes give exact bytes; the arguments
 * are byte strings throughout. Null when the quotes are unbalanced.
 */
export function parsePromptLine(line: string): Buffer[] | null {
  const args = splitArgs(Buffer.from(line, 'utf8').toString('latin1'));
  return args === null ? null : args.map((a) => Buffer.from(a, 'latin1'));
}

/**
 * Reads commands line by line until `quit`, `exit` or end of input, running them
 * one at a time in order. Blank lines are skipped.
 */
export async function runPrompt(opts: PromptOptions): Promise<void> {
  const rl = readline.createInterface({
    input: opts.input,
    output: opts.terminal ? opts.output : undefined,
    terminal: opts.terminal,
    historySize: opts.terminal ? 1000 : 0,
  });
  rl.setPrompt(opts.prompt);
  if (opts.terminal) rl.prompt();
  try {
    for await (const line of rl) {
      const args = parsePromptLine(line);
      if (args === null) {
        await opts.onBadLine('unbalanced quotes in the line; close every " or \' you open');
      } else if (args.length > 0) {
        const first = (args[0] as Buffer).toString('latin1').toLowerCase();
        if (args.length === 1 && QUIT_WORDS.has(first)) break;
        if ((await opts.run(args)) === 'quit') break;
      }
      if (opts.terminal) rl.prompt();
    }
  } finally {
    rl.close();
  }
}
