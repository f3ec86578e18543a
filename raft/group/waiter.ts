// A caller waiting for an outcome the driver learns later (an entry applied, a read index
// reached, a leader change), with its own deadline. Settling twice is a no-op, so the
// timeout, the success and close() can race without bookkeeping at each call site.

export class Waiter<T> {
  readonly promise: Promise<T>;
  private settleResolve!: (v: T) => void;
  private settleReject!: (e: Error) => void;
  private timer: NodeJS.Timeout | null;
  settled = false;

  /** `onTimeout` builds the rejection after `timeoutMs`; `onSettle` runs once either way
   * (the owner removes the waiter from its tables there). */
  constructor(timeoutMs: number, onTimeout: () => Error, private readonly onSettle: () => void) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.settleResolve = resolve;
      this.settleReject = reject;
    });
    this.timer = setTimeout(() => this.reject(onTimeout()), timeoutMs);
  }

  resolve(v: T): void {
    if (this.finish()) this.settleResolve(v);
  }

  reject(e: Error): void {
    if (this.finish()) this.settleReject(e);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.onSettle();
    return true;
  }
}
