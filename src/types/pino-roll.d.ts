declare module 'pino-roll' {
  import type SonicBoom from 'sonic-boom';
  interface PinoRollOptions {
    file: string | (() => string);
    size?: number | string;
    frequency?: number | string;
    extension?: string;
    symlink?: boolean;
    limit?: { count?: number; removeOtherLogFiles?: boolean };
    dateFormat?: string;
    mkdir?: boolean;
    contentMode?: 'utf8' | 'buffer';
    sync?: boolean;
    minLength?: number;
    maxWrite?: number;
    periodicFlush?: number;
  }
  export default function pinoRoll(options: PinoRollOptions): Promise<SonicBoom>;
}
