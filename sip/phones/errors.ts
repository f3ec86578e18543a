// The phones' error catalogue: stable codes for the conditions a phones process reports.

export const PHONES_ERR = {
  /** Flags that cannot describe a set of phones (bad DN range, unknown behaviour). */
  BAD_SPEC: 'PHONES_ERR_BAD_SPEC',
  /** The registrar refused our credentials (a 401/403 after we answered its challenge). */
  AUTH_REJECTED: 'PHONES_ERR_AUTH_REJECTED',
  /** A challenge we cannot answer (unknown scheme or algorithm, or none offered). */
  CHALLENGE_UNSUPPORTED: 'PHONES_ERR_CHALLENGE_UNSUPPORTED',
  /** REGISTER failed with a non-auth final response or a transaction timeout. */
  REGISTER_FAILED: 'PHONES_ERR_REGISTER_FAILED',
} as const;

export type PhonesErrorCode = (typeof PHONES_ERR)[keyof typeof PHONES_ERR];

export class PhonesError extends Error {
  constructor(readonly code: PhonesErrorCode, message: string) {
    super(message);
  }
}
