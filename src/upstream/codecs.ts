// Upstream codecs by name: meshlet's own HTTP/1.1 codec ('h1', the default) and undici (the
// reference implementation, kept selectable for differential tests and comparison). Loaded on
// demand, so a worker only holds the code of the codec it uses.
import type { UpstreamCodec } from './codec.js';

export const CODEC_NAMES = ['h1', 'undici'] as const;
export type CodecName = (typeof CODEC_NAMES)[number];
export const DEFAULT_CODEC: CodecName = 'h1';

export function isCodecName(name: string): name is CodecName {
  return (CODEC_NAMES as readonly string[]).includes(name);
}

export async function loadCodec(name: CodecName): Promise<UpstreamCodec> {
  if (name === 'undici') return (await import('./undici-codec.js')).undiciCodec;
  return (await import('./h1/index.js')).h1Codec;
}
