// The media gateway's error catalogue. Expected conditions (a malformed control message,
// an exhausted port range, an unknown call) are GatewayErrors with stable codes; the ng
// control server answers them as {result: 'error', 'error-reason': message} and the
// client rethrows them with the same code. Broken invariants are node:assert failures.

export const GatewayErrorCode = {
  BENCODE_MALFORMED: 'GW_ERR_BENCODE_MALFORMED',
  BENCODE_TOO_DEEP: 'GW_ERR_BENCODE_TOO_DEEP',
  NG_MALFORMED: 'GW_ERR_NG_MALFORMED',
  NG_UNKNOWN_COMMAND: 'GW_ERR_NG_UNKNOWN_COMMAND',
  NG_MISSING_KEY: 'GW_ERR_NG_MISSING_KEY',
  NG_TIMEOUT: 'GW_ERR_NG_TIMEOUT',
  NG_REMOTE: 'GW_ERR_NG_REMOTE',
  SDP_INVALID: 'GW_ERR_SDP_INVALID',
  PORTS_EXHAUSTED: 'GW_ERR_PORTS_EXHAUSTED',
  MAX_SESSIONS: 'GW_ERR_MAX_SESSIONS',
  UNKNOWN_CALL: 'GW_ERR_UNKNOWN_CALL',
  UNKNOWN_TAG: 'GW_ERR_UNKNOWN_TAG',
  UNKNOWN_PROMPT: 'GW_ERR_UNKNOWN_PROMPT',
  NO_G711: 'GW_ERR_NO_G711',
  CLOSED: 'GW_ERR_CLOSED',
} as const;
export type GatewayErrorCode = (typeof GatewayErrorCode)[keyof typeof GatewayErrorCode];

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  constructor(code: GatewayErrorCode, message: string) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
  }
}

export function isGatewayError(e: unknown, code?: GatewayErrorCode): e is GatewayError {
  return e instanceof GatewayError && (code === undefined || e.code === code);
}
