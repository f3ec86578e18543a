// The replicated state machine of the simulation: one compare-and-set register per key.
// Commands travel through the Raft log as JSON; apply is deterministic and reads nothing
// but the command and the current values.

export type RegisterValue = number | null;

export type RegisterCommand = Readonly<
  | { client: number; op: number; kind: 'write'; key: string; value: number }
  | { client: number; op: number; kind: 'cas'; key: string; expected: RegisterValue; value: number }
>;

/** A failed cas reports the value it saw, so it observes the register like a read. */
export type RegisterResult = Readonly<{ ok: boolean; current: RegisterValue }>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: RegisterCommand): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): RegisterCommand {
  return JSON.parse(decoder.decode(data)) as RegisterCommand;
}

export class CasRegister {
  private values = new Map<string, RegisterValue>();

  read(key: string): RegisterValue {
    return this.values.get(key) ?? null;
  }

  apply(c: RegisterCommand): RegisterResult {
    const current = this.read(c.key);
    if (c.kind === 'write') {
      this.values.set(c.key, c.value);
      return { ok: true, current };
    }
    if (current !== c.expected) return { ok: false, current };
    this.values.set(c.key, c.value);
    return { ok: true, current };
  }

  snapshot(): Uint8Array {
    const keys = [...this.values.keys()].sort();
    return encoder.encode(JSON.stringify(keys.map((k) => [k, this.values.get(k)])));
  }

  restore(data: Uint8Array): void {
    const pairs = data.length === 0 ? [] : (JSON.parse(decoder.decode(data)) as [string, RegisterValue][]);
    this.values = new Map(pairs);
  }
}
