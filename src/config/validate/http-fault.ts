// VirtualService `http[].fault` (HTTPFaultInjection): a fixed delay and/or an abort (an HTTP or a
// gRPC status), each on a percentage of requests. As in Istio, a delay or abort without a
// percentage is never injected.
import type { FaultSpec } from '../snapshot.js';
import type { Fields } from './fields.js';
import { readDurationMs, readPercent } from './values.js';
import { GRPC_STATUS_NAMES, grpcToHttpStatus } from '../../http/grpc.js';

/** null when absent, or when nothing in it can be injected by meshlet. */
export function readFault(rule: Fields): FaultSpec | null {
  const f = rule.object('fault', ['delay', 'abort']);
  if (f === null) return null;
  if (!f.has('delay') && !f.has('abort')) f.ck.error(f.path, 'fault must set delay and/or abort');
  const delay = readDelay(f);
  const abort = readAbort(f);
  return delay === null && abort === null ? null : { delay, abort };
}

function readDelay(fault: Fields): FaultSpec['delay'] {
  const d = fault.object('delay', ['fixedDelay', 'exponentialDelay', 'percentage', 'percent']);
  if (d === null) return null;
  const legacy = d.number('percent', { integer: true, min: 0, max: 100 });
  if (d.has('percent')) d.ck.warn(d.at('percent'), `deprecated: write percentage: {value: N}${d.has('percentage') ? '; ignored because percentage is set' : ''}`);
  const percent = percentOf(d, readPercent(d, 'percentage') ?? legacy);
  if (d.has('exponentialDelay')) {
    if (d.has('fixedDelay')) d.ck.error(d.path, 'delay must set only one of fixedDelay, exponentialDelay');
    else d.ck.warn(d.at('exponentialDelay'), 'not supported by meshlet (nor injected by Istio); this delay is ignored');
    return null;
  }
  if (!d.has('fixedDelay')) d.ck.error(d.at('fixedDelay'), 'required field is missing');
  const fixedDelayMs = readDurationMs(d, 'fixedDelay');
  return fixedDelayMs === null ? null : { percent, fixedDelayMs };
}

function readAbort(fault: Fields): FaultSpec['abort'] {
  const a = fault.object('abort', ['httpStatus', 'grpcStatus', 'http2Error', 'percentage']);
  if (a === null) return null;
  const percent = percentOf(a, readPercent(a, 'percentage'));
  const kinds = ['httpStatus', 'grpcStatus', 'http2Error'].filter((k) => a.has(k));
  if (kinds.length > 1) {
    a.ck.error(a.path, `abort sets ${kinds.join(' and ')}: set exactly one of httpStatus, grpcStatus, http2Error`);
    return null;
  }
  if (a.has('http2Error')) {
    a.unsupported(['http2Error'], 'not supported by meshlet; this abort is ignored');
    return null;
  }
  if (a.has('grpcStatus')) {
    const grpcStatus = readGrpcStatus(a);
    return grpcStatus < 0 ? null : { percent, httpStatus: grpcToHttpStatus(grpcStatus), grpcStatus };
  }
  const httpStatus = a.number('httpStatus', { required: true, integer: true, min: 200, max: 599 });
  return httpStatus === null ? null : { percent, httpStatus, grpcStatus: -1 };
}

/** Istio writes grpcStatus as the status's name (UNAVAILABLE, not 14). */
function readGrpcStatus(a: Fields): number {
  const name = a.string('grpcStatus');
  if (name === null) return -1;
  const code = (GRPC_STATUS_NAMES as readonly string[]).indexOf(name);
  if (code < 0) {
    a.ck.error(a.at('grpcStatus'), `unknown gRPC status "${name}" (one of ${GRPC_STATUS_NAMES.join(', ')})`);
    return -1;
  }
  return code;
}

/** The fault's percent; without one it is never injected (Istio), which deserves a warning. */
function percentOf(f: Fields, percent: number | null): number {
  if (percent === null) f.ck.warn(f.path, 'no percentage: never injected (as in Istio); set percentage: {value: 100} to inject always');
  return percent ?? 0;
}
