import calculateSlot from 'cluster-key-slot';
import type { ByteString } from '../../store/bytes.js';

/** Redis's hash slot of a byte-string key (cluster-key-slot reads a JS string as UTF-8, so wider bytes go as a Buffer). */
export function keySlot(key: ByteString): number {
  // eslint-disable-next-line no-control-regex
  return calculateSlot(/[^\x00-\x7f]/.test(key) ? Buffer.from(key, 'latin1') : key);
}
