// The part of sdp-transform's object model the gateway reads and writes (the package
// ships no types). Fields are optional as in the parser's output.
declare module 'sdp-transform' {
  export type SdpConnection = { version: number; ip: string };
  export type SdpMedia = {
    type: string;
    port: number;
    protocol: string;
    payloads?: string | number;
    connection?: SdpConnection;
    rtp?: { payload: number; codec: string; rate?: number; encoding?: number }[];
    fmtp?: { payload: number; config: string }[];
    rtcp?: { port: number; netType?: string; ipVer?: number; address?: string };
    candidates?: unknown[];
    iceUfrag?: string;
    icePwd?: string;
    iceOptions?: string;
    endOfCandidates?: string;
    direction?: string;
    [key: string]: unknown;
  };
  export type SdpSession = {
    version?: number;
    origin?: { username: string; sessionId: string | number; sessionVersion: number; netType: string; ipVer: number; address: string };
    name?: string;
    connection?: SdpConnection;
    media: SdpMedia[];
    iceUfrag?: string;
    icePwd?: string;
    iceOptions?: string;
    [key: string]: unknown;
  };
  export function parse(sdp: string): SdpSession;
  export function write(session: SdpSession): string;
}
