/**
 * serverless.yml declares what the handlers serve: every API route the
 * router knows, the notify queue and MSK events, the schedule, and bundles
 * that leave the embedded store's native module out. The packaged template
 * itself is checked against AWS's resource specification in
 * test/integration/cloudformation.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { API_ROUTE_KEYS } from '../../../lib/handlers/http.js';
import { REPO_ROOT } from './fixtures.js';

/** A parsed YAML value, read loosely: the test asserts its fields one by one. */
// biome-ignore lint/suspicious/noExplicitAny: YAML of any shape
type Yaml = any;

interface FunctionConfig {
  handler: string;
  events?: Array<Record<string, Yaml>>;
  destinations?: { onFailure?: { type?: string; arn?: unknown } };
}
const config = parse(readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
  service: string;
  provider: Record<string, Yaml>;
  custom: { esbuild: Record<string, Yaml> };
  package: { patterns: string[] };
  functions: Record<string, FunctionConfig>;
  resources: { Resources: Record<string, { Type: string; Properties?: Yaml }> };
};

describe('serverless.yml', () => {
  it('routes every API route of the router to the api function, and nothing else', () => {
    const routes = (config.functions.api?.events ?? []).map((event) => `${event.httpApi.method} ${event.httpApi.path}`);

    expect(routes.sort()).toEqual([...API_ROUTE_KEYS].sort());
  });

  it('declares the five functions with their handlers', () => {
    expect(Object.fromEntries(Object.entries(config.functions).map(([name, fn]) => [name, fn.handler]))).toEqual({
      api: 'functions/api.handler',
      notify: 'functions/notify.handler',
      heartbeat: 'functions/heartbeat.handler',
      reconcile: 'functions/reconcile.handler',
      catalog: 'functions/catalog.handler',
    });
  });

  it('consumes cm/notify from the queue the IoT rule fills, reporting partial batch failures', () => {
    const notify = config.functions.notify!;

    expect(notify.events).toEqual([
      {
        sqs: expect.objectContaining({
          arn: 'NotifyQueue.Arn', // !GetAtt, read as its plain scalar
          functionResponseType: 'ReportBatchItemFailures',
        }),
      },
    ]);
    const rule = config.resources.Resources.NotifyTopicRule?.Properties?.TopicRulePayload;
    expect(rule?.Sql).toBe("SELECT * FROM 'cm/notify'");
    expect(config.resources.Resources.NotifyQueue?.Properties?.RedrivePolicy?.maxReceiveCount).toBe(5);
  });

  it('feeds heartbeat from the MSK topic, from the latest offset', () => {
    const msk = config.functions.heartbeat?.events?.[0]?.msk;

    expect(msk).toMatchObject({ startingPosition: 'LATEST', enabled: true });
    expect(msk.topic).toMatch(/\$\{param:/);
    expect(msk.arn).toMatch(/\$\{param:/);
  });

  it('runs reconcile every minute', () => {
    expect(config.functions.reconcile?.events).toEqual([{ schedule: 'rate(1 minute)' }]);
  });

  it('keeps better-sqlite3 out of every bundle and packages the pod templates', () => {
    expect(config.custom.esbuild.exclude).toContain('better-sqlite3');
    expect(config.custom.esbuild.bundle).toBe(true);
    expect(config.package.patterns).toContain('infra/templates/**');
  });

  it('passes the variables the handlers read', () => {
    expect(Object.keys(config.provider.environment)).toEqual(
      expect.arrayContaining(['ZK_CONNECT', 'ZK_AUTH', 'EKS_CLUSTER_NAME', 'KAFKA_BROKERS', 'LOG_LEVEL']),
    );
  });
});
