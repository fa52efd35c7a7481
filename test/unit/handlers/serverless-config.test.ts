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
import { CONSOLE_ASSETS } from '../../../lib/dashboard/assets.js';
import { API_ROUTE_KEYS, ROUTE_KEYS_BY_ACCESS } from '../../../lib/handlers/http.js';
import { REPO_ROOT } from './fixtures.js';

/** A parsed YAML value, read loosely: the test asserts its fields one by one. */
// biome-ignore lint/suspicious/noExplicitAny: YAML of any shape
type Yaml = any;

interface FunctionConfig {
  handler: string;
  package?: { patterns?: string[] };
  events?: Array<Record<string, Yaml>>;
  destinations?: { onFailure?: { type?: string; arn?: unknown } };
}
const config = parse(readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }) as {
  service: string;
  provider: Record<string, Yaml>;
  custom: { esbuild: Record<string, Yaml>; consoleAuthorizer: Yaml };
  functions: Record<string, FunctionConfig>;
  resources: { Resources: Record<string, { Type: string; Properties?: Yaml }> };
};

describe('serverless.yml', () => {
  it('routes every API route of the router to the api function, and nothing else', () => {
    const routes = (config.functions.api?.events ?? []).map((event) => `${event.httpApi.method} ${event.httpApi.path}`);

    expect(routes.sort()).toEqual([...API_ROUTE_KEYS].sort());
  });

  it('authorizes the page with nothing, the machine routes with apiAuth (IAM), the console routes with the JWT', () => {
    const authorizerOf = new Map(
      (config.functions.api?.events ?? []).map((event) => [
        `${event.httpApi.method} ${event.httpApi.path}`,
        event.httpApi.authorizer,
      ]),
    );
    // serverless.yml's variables as written there.
    const variable = (name: string) => `\${self:custom.${name}}`;
    const expected = { public: undefined, machine: variable('apiAuthorizer'), console: variable('consoleAuthorizer') };

    for (const [access, keys] of Object.entries(ROUTE_KEYS_BY_ACCESS))
      for (const key of keys) expect(authorizerOf.get(key), key).toBe(expected[access as keyof typeof expected]);
    expect(config.custom.consoleAuthorizer).toEqual({ name: 'jwt' });
  });

  it('packages the console static files with the api function', () => {
    const patterns = config.functions.api?.package?.patterns ?? [];

    for (const { file } of Object.values(CONSOLE_ASSETS))
      expect(
        patterns.some(
          (pattern) => pattern === file || (pattern.endsWith('/**') && file.startsWith(pattern.slice(0, -2))),
        ),
        file,
      ).toBe(true);
  });

  it('declares the six functions with their handlers', () => {
    expect(Object.fromEntries(Object.entries(config.functions).map(([name, fn]) => [name, fn.handler]))).toEqual({
      api: 'functions/api.handler',
      notify: 'functions/notify.handler',
      heartbeat: 'functions/heartbeat.handler',
      reconcile: 'functions/reconcile.handler',
      alerts: 'functions/alerts.handler',
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

  it('runs reconcile and the alerts forwarding every minute', () => {
    expect(config.functions.reconcile?.events).toEqual([{ schedule: 'rate(1 minute)' }]);
    expect(config.functions.alerts?.events).toEqual([{ schedule: 'rate(1 minute)' }]);
  });

  it('keeps better-sqlite3 and yaml out of every bundle and compiles the pod templates in', () => {
    expect(config.custom.esbuild.exclude).toEqual(expect.arrayContaining(['better-sqlite3', 'yaml']));
    expect(config.custom.esbuild.bundle).toBe(true);
    expect(config.custom.esbuild.plugins).toBe('infra/esbuild-plugins.cjs');
  });

  it('passes the variables the handlers read', () => {
    expect(Object.keys(config.provider.environment)).toEqual(
      expect.arrayContaining(['ZK_CONNECT', 'ZK_AUTH_SECRET', 'EKS_CLUSTER_NAME', 'KAFKA_BROKERS', 'LOG_LEVEL']),
    );
  });
});
