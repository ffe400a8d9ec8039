// What a gRPC request adds to its exchange: the status it ended with (from the response headers
// of a trailers-only response, the trailers, or meshlet's own gRPC-shaped reply), the messages
// each way (istio_request_messages_total / istio_response_messages_total), and the deadline its
// grpc-timeout sets. Created only for requests whose content-type is application/grpc*.
import { findHeader } from '../http/headers.js';
import { grpcTimeoutMs, httpToGrpcStatus, isGrpcContentType, parseGrpcStatus } from '../http/grpc.js';
import { GrpcFrameCounter } from './grpc-frames.js';

/** The ring's gRPC status field: not a gRPC request. */
export const NOT_GRPC = -2;
/** The ring's gRPC status field: a gRPC request without a status (the client left first). */
export const GRPC_NO_STATUS = -1;

export class GrpcCall {
  /** grpc-status seen (or sent by meshlet); -1 until one is */
  status = -1;
  readonly requestMessages = new GrpcFrameCounter();
  readonly responseMessages = new GrpcFrameCounter();
  /** the request's grpc-timeout in ms, -1 when it has none */
  readonly timeoutMs: number;

  constructor(headers: string[]) {
    const t = findHeader(headers, 'grpc-timeout');
    this.timeoutMs = t < 0 ? -1 : grpcTimeoutMs(headers[t]);
  }

  /** A GrpcCall when the request (flat lowercase headers) is gRPC, else null. */
  static of(headers: string[]): GrpcCall | null {
    const ct = findHeader(headers, 'content-type');
    return ct >= 0 && isGrpcContentType(headers[ct]) ? new GrpcCall(headers) : null;
  }

  /** Response headers or trailers (flat, lowercase names): a grpc-status there is the call's status. */
  noteStatus(fields: string[]): void {
    const i = findHeader(fields, 'grpc-status');
    if (i >= 0) {
      const s = parseGrpcStatus(fields[i]);
      if (s >= 0) this.status = s;
    }
  }

  /** The status for the record: the one seen, else (Envoy) the HTTP status's equivalent; GRPC_NO_STATUS when nothing was answered. */
  recordedStatus(httpStatus: number): number {
    if (this.status >= 0) return this.status;
    return httpStatus > 0 ? httpToGrpcStatus(httpStatus) : GRPC_NO_STATUS;
  }
}
