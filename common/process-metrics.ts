// prom-client's default process and Node.js metrics, for every role's registry, minus
// the three that fail `promtool check metrics`: nodejs_active_{handles,requests,resources}_total
// are gauges named like counters. Their by-type gauges (nodejs_active_handles{type}, ...)
// stay, and sum() over them gives the same totals.
import { collectDefaultMetrics, type Registry } from 'prom-client';

const gaugesNamedLikeCounters = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

export function collectProcessMetrics(registry: Registry): void {
  // Event-loop delay sampled every 100 ms instead of prom-client's 10 ms: 100 extra
  // wake-ups a second in an idle process, for a histogram scraped every few seconds.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  for (const name of gaugesNamedLikeCounters) registry.removeSingleMetric(name);
}
