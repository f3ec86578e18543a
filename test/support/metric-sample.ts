// Reading one sample out of a Prometheus exposition text in tests: matched by its name and
// the labels given (others, such as the `node` or `store` every series of a role carries,
// are ignored), whatever their order.

/** The value of `name`'s first sample carrying `labels`; null when there is none. */
export function metricSample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | null {
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const have = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[2]);
  }
  return null;
}
