// Counts gRPC messages in a body as it streams by (Envoy's grpc_stats filter): each message is a
// 5-byte prefix (compressed flag, 4-byte big-endian length) then that many bytes. The counter
// walks prefixes across chunk boundaries without copying or keeping any body bytes.

export class GrpcFrameCounter {
  /** messages whose prefix was seen */
  count = 0;
  /** bytes of the current message's body still to skip */
  private remaining = 0;
  /** prefix bytes read so far (0..4) and the length they spell */
  private prefixRead = 0;
  private length = 0;

  feed(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, n - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      // a prefix byte: 0 is the compressed flag, 1..4 the length
      const b = chunk[i++] as number;
      if (this.prefixRead === 0) {
        this.count++;
        this.length = 0;
      } else {
        this.length = this.length * 256 + b;
      }
      if (++this.prefixRead === 5) {
        this.prefixRead = 0;
        this.remaining = this.length;
      }
    }
  }
}
