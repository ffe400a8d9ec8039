// gRPC over HTTP as Envoy treats it: which requests are gRPC, the status codes and their HTTP
// equivalents (Envoy's Grpc::Utility), the grpc-timeout header, and grpc-message encoding.

export const GRPC_OK = 0;
export const GRPC_CANCELLED = 1;
export const GRPC_UNKNOWN = 2;
export const GRPC_DEADLINE_EXCEEDED = 4;
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;
export const GRPC_UNAUTHENTICATED = 16;

/** Status names by code (grpc/doc/statuscodes.md), as Istio's fault abort grpcStatus writes them. */
export const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** A request is gRPC when its content-type is application/grpc or a subtype (Envoy: Grpc::Common::isGrpcRequestHeaders). */
export function isGrpcContentType(value: string | undefined): boolean {
  return value !== undefined && value.startsWith('application/grpc') && (value.length === 16 || value.charCodeAt(16) === 43 /* + */ || value.charCodeAt(16) === 59 /* ; */ || value.charCodeAt(16) === 45 /* - */);
}

/** The status a grpc-status value carries; -1 when it is not a number (Envoy takes that as no status). */
export function parseGrpcStatus(value: string | undefined): number {
  if (value === undefined || value.length === 0 || value.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Envoy's Grpc::Utility::grpcToHttpStatus (outlier detection counts a gRPC result as this status). */
export function grpcToHttpStatus(code: number): number {
  switch (code) {
    case 0: return 200;
    case 1: return 499;
    case 3: return 400;
    case 4: return 504;
    case 5: return 404;
    case 6: return 409;
    case 7: return 403;
    case 8: return 429;
    case 9: return 400;
    case 10: return 409;
    case 11: return 400;
    case 12: return 501;
    case 14: return 503;
    case 16: return 401;
    default: return 500; // UNKNOWN, INTERNAL, DATA_LOSS and anything unknown
  }
}

/** Envoy's Grpc::Utility::httpToGrpcStatus, for local replies without a more precise meaning. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400: return GRPC_INTERNAL;
    case 401: return GRPC_UNAUTHENTICATED;
    case 403: return GRPC_PERMISSION_DENIED;
    case 404: return GRPC_UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GRPC_UNAVAILABLE;
    default: return GRPC_UNKNOWN;
  }
}

/** grpc-timeout (`<1..8 digits><H|M|S|m|u|n>`) in ms, rounded up; -1 when absent or malformed. */
export function grpcTimeoutMs(value: string | undefined): number {
  if (value === undefined || value.length < 2 || value.length > 9) return -1;
  let n = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  switch (value.charCodeAt(value.length - 1)) {
    case 72 /* H */: return n * 3_600_000;
    case 77 /* M */: return n * 60_000;
    case 83 /* S */: return n * 1000;
    case 109 /* m */: return n;
    case 117 /* u */: return Math.ceil(n / 1000);
    case 110 /* n */: return Math.ceil(n / 1_000_000);
    default: return -1;
  }
}

/** grpc-message's percent-encoding (gRPC over HTTP/2 spec): bytes outside 0x20..0x7e and '%' as %XX of their UTF-8. */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}
