// The error catalogue of the SIP node's transaction user. Codes are stable: logs, CDRs
// and the admin REST match on them.

export const SipNodeErrorCode = {
  /** The node id is not in the cluster file's `sip` list. */
  UNKNOWN_NODE: 'SIP_NODE_ERR_UNKNOWN_NODE',
  /** No media gateway answered (all configured ones are dead). */
  NO_GATEWAY: 'SIP_NODE_ERR_NO_GATEWAY',
  /** The media gateway refused or failed an offer/answer. */
  MEDIA_FAILED: 'SIP_NODE_ERR_MEDIA_FAILED',
  /** A shard command's outcome is unknown (deadline passed). */
  SHARD_UNAVAILABLE: 'SIP_NODE_ERR_SHARD_UNAVAILABLE',
  /** A Contact or Request-URI the node cannot send to. */
  BAD_TARGET: 'SIP_NODE_ERR_BAD_TARGET',
  /** The routing webhook gave no usable answer; the built-in router decided (logged,
   * counted in ringfence_sip_routing_webhook_total by result). */
  ROUTING_WEBHOOK: 'SIP_NODE_ERR_ROUTING_WEBHOOK',
  /** An in-dialog offer (re-INVITE/UPDATE SDP) could not be re-anchored on the gateway. */
  REANCHOR_FAILED: 'SIP_NODE_ERR_REANCHOR_FAILED',
  /** The queue is full. */
  QUEUE_FULL: 'SIP_NODE_ERR_QUEUE_FULL',
} as const;

export type SipNodeErrorCode = (typeof SipNodeErrorCode)[keyof typeof SipNodeErrorCode];

export class SipNodeError extends Error {
  constructor(
    readonly code: SipNodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}
