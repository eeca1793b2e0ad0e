/**
 * A cluster node's Prometheus gauges (prom-client): whether it reaches
 * Redis, and the cluster policy epoch it has in force.
 */
import { Gauge, type Registry } from 'prom-client';
import type { RedisHealth } from './health.ts';

/** registerNodeMetrics adds agentk_redis_up and agentk_cluster_policy_epoch to `registry`; both are read when scraped. */
export function registerNodeMetrics(registry: Registry, health: RedisHealth, epoch: () => number): void {
  registry.registerMetric(
    new Gauge({
      name: 'agentk_redis_up',
      help: '1 while this node reaches Redis (shared state), 0 while it fails closed',
      registers: [],
      collect() {
        this.set(health.ready ? 1 : 0);
      },
    }),
  );
  registry.registerMetric(
    new Gauge({
      name: 'agentk_cluster_policy_epoch',
      help: 'The cluster policy epoch this node has in force',
      registers: [],
      collect() {
        this.set(epoch());
      },
    }),
  );
}
