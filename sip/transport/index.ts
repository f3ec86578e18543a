// The SIP transport layer's public API (RFC 3261 §18, RFC 3581). Layers above import from here.

export type { SipTransport, SipTarget, SipSource, HostPort, InboundMessage, InboundListener, TransportProtocol } from './transport.js';
export { UdpTransport, type UdpTransportOptions } from './udp-transport.js';
export { TcpTransport, type TcpTransportOptions } from './tcp-transport.js';
export { TlsTransport, TlsCredentialsError, loadTlsCredentials, certificateFingerprint, type TlsTransportOptions, type TlsCredentials } from './tls-transport.js';
export { StreamTransport, type StreamTransportOptions } from './stream-transport.js';
export { LoopNetwork, LoopTransport, type LoopPacket, type LoopVerdict, type LoopNetworkOptions } from './loop-transport.js';
export { DEFAULT_TRANSPORT_LIMITS, transportLimits, type TransportLimits } from './limits.js';
export { SourceGate, parseTrustedSources, type SourceGateOptions, type GateVerdict } from './source-gate.js';
export { TRANSPORT_ERR, SipTransportError, type TransportErrorCode } from './errors.js';
export type { TransportCounters } from './counters.js';
export { responseTarget } from './response-routing.js';
export { stampTopVia, topViaValue } from './via-stamp.js';
export { classifyInbound, type InboundOutcome } from './inbound.js';
export { SystemTimerService, type TimerService, type TimerHandle } from './timer-service.js';
export { FakeClock } from './fake-clock.js';
