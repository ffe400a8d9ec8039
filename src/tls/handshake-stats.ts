// TLS handshakes of one worker, counted where they finish (inbound: the listener's secure
// connection; outbound: an upstream connection's secureConnect) and reported once a second
// (GaugesReport.tls → meshlet_tls_handshakes_total{direction,resumed}).

/** [inbound full, inbound resumed, inbound failed, outbound full, outbound resumed] since the worker started */
export type HandshakeCounts = [number, number, number, number, number];

export class HandshakeStats {
  inboundFull = 0;
  inboundResumed = 0;
  /** handshakes a client started and did not finish (no or a foreign certificate, plaintext on STRICT, timeout) */
  inboundFailed = 0;
  outboundFull = 0;
  outboundResumed = 0;

  snapshot(): HandshakeCounts {
    return [this.inboundFull, this.inboundResumed, this.inboundFailed, this.outboundFull, this.outboundResumed];
  }
}
