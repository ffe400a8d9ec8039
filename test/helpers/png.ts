// A tiny PNG decoder for screenshots: 8-bit RGB/RGBA, non-interlaced; IDAT inflated with node:zlib
// and the five scanline filters undone. Enough to count pixels, nothing more.
import { inflateSync } from 'node:zlib';

export interface Image {
  width: number;
  height: number;
  /** RGB triples, row by row (alpha dropped) */
  rgb: Uint8Array;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(buf: Buffer): Image {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      const colorType = data[9];
      if (depth !== 8 || data[12] !== 0 || (colorType !== 2 && colorType !== 6)) throw new Error(`unsupported PNG: depth ${depth}, colour type ${colorType}, interlace ${data[12]}`);
      channels = colorType === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x] as number;
      const a = x >= channels ? (pixels[row + x - channels] as number) : 0;
      const b = y > 0 ? (pixels[row - stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (pixels[row - stride + x - channels] as number) : 0;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : filter === 4 ? paeth(a, b, c) : NaN;
      if (Number.isNaN(pred)) throw new Error(`bad PNG filter ${filter} on row ${y}`);
      pixels[row + x] = (v + pred) & 0xff;
    }
  }
  if (channels === 3) return { width, height, rgb: pixels };
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < pixels.length; i += 4, j += 3) {
    rgb[j] = pixels[i] as number;
    rgb[j + 1] = pixels[i + 1] as number;
    rgb[j + 2] = pixels[i + 2] as number;
  }
  return { width, height, rgb };
}

/** Pixels that are not (near) white. */
export function nonWhitePixels(img: Image): number {
  let n = 0;
  for (let i = 0; i < img.rgb.length; i += 3) if ((img.rgb[i] as number) < 240 || (img.rgb[i + 1] as number) < 240 || (img.rgb[i + 2] as number) < 240) n++;
  return n;
}

/** Per '#rrggbb' colour, the pixels within `tolerance` (per channel) of it. */
export function colourCounts(img: Image, colours: string[], tolerance = 24): Map<string, number> {
  const targets = colours.map((c) => [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)] as const);
  const out = new Map<string, number>(colours.map((c) => [c, 0]));
  for (let i = 0; i < img.rgb.length; i += 3) {
    const r = img.rgb[i] as number;
    const g = img.rgb[i + 1] as number;
    const b = img.rgb[i + 2] as number;
    targets.forEach(([tr, tg, tb], k) => {
      if (Math.abs(r - tr) <= tolerance && Math.abs(g - tg) <= tolerance && Math.abs(b - tb) <= tolerance) {
        const c = colours[k] as string;
        out.set(c, (out.get(c) as number) + 1);
      }
    });
  }
  return out;
}
