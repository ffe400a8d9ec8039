// Upstream codecs by name: meshlet's own HTTP/1.1 codec ('h1', the default) and undici (the
// reference implementation, kept selectable for differential tests and comparison).
import type { UpstreamCodec } from './codec.js';
import { h1Codec } from './h1/index.js';
import { undiciCodec } from './undici-codec.js';

export const CODECS = { h1: h1Codec, undici: undiciCodec } as const;
export type CodecName = keyof typeof CODECS;
export const DEFAULT_CODEC: CodecName = 'h1';

export function isCodecName(name: string): name is CodecName {
  return Object.hasOwn(CODECS, name);
}
