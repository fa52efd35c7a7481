/**
 * The packaged CloudFormation templates, checked as far as can be without deploying: `sls package` runs for the
 * default params and for apiAuth=jwt, and each template is checked against AWS's resource specification (see
 * test/support/cloudformation-spec.ts: types, property names at every level, required properties, references),
 * then for the deploy facts the service relies on: the notify queue (SSE, redrive to the dead-letter queue after
 * 5 receives, visibility ≥ 6 × the notify timeout), its event source mapping (partial batch responses, batches
 * of 100 in a 1 s window, at most 4 concurrent), the IoT rule queueing into it (errors to the dead-letter
 * queue) with a role that may, the api's reserved concurrency, the authorizer of every route, and zips that
 * carry their handler and no source map.
 *
 * Each packaging runs in a copy of the repository in a temporary directory (node_modules linked), so neither
 * the repository's .serverless/ nor its .esbuild/ (the kept source maps of the last `npm run package`) is touched.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CloudFormationSpec,
  checkTemplate,
  formatViolations,
  loadCloudFormationSpec,
} from '../support/cloudformation-spec.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);
const SLS = join(dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js');
/** Left out of the copy: git, build output and local state (see .gitignore); node_modules is linked instead. */
const NOT_COPIED = new Set([
  '.git',
  'node_modules',
  '.serverless',
  '.esbuild',
  '.data',
  'coverage',
  'dist',
  'test-results',
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Resource {
  Type: string;
  Properties: Record<string, Json>;
  DependsOn?: string | string[];
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, Json>;
}
interface Packaged {
  /** The package directory: both templates and the zips. */
  dir: string;
  template: Template;
}

/** `sls package --package <dir>` in a copy of the repository, with these --param values. */
async function packageService(work: string, params: string[]): Promise<Packaged> {
  const service = join(work, 'service');
  const dir = join(work, 'package');
  mkdirSync(service, { recursive: true });
  for (const entry of readdirSync(ROOT))
    if (!NOT_COPIED.has(entry) && !entry.endsWith('.log'))
      cpSync(join(ROOT, entry), join(service, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(service, 'node_modules'), 'dir');
  // The shell's store settings would land in the template's environment (serverless.yml reads them as fallbacks).
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(ZK_|ORCH_)/.test(name)));
  const args = [SLS, 'package', '--package', dir, ...params.map((param) => `--param=${param}`)];
  try {
    await promisify(execFile)(process.execPath, args, { cwd: service, env, timeout: 150_000, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`sls package ${params.join(' ')} failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error });
  }
  return { dir, template: readJson(join(dir, 'cloudformation-template-update-stack.json')) as Template };
}

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

/** The entry names of a zip archive, read from its central directory (no unzip tool needed). */
function zipEntries(file: string): string[] {
  const zip = readFileSync(file);
  let end = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff) && end < 0; at--)
    if (zip.readUInt32LE(at) === 0x06054b50) end = at;
  if (end < 0) throw new Error(`${file}: no end of central directory, not a zip archive`);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  if (count === 0xffff || at === 0xffffffff) throw new Error(`${file}: a ZIP64 archive, not read here`);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: central directory entry ${i} is corrupt`);
    const nameLength = zip.readUInt16LE(at + 28);
    names.push(zip.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return names;
}

const getAtt = (id: string, attribute = 'Arn'): Json => ({ 'Fn::GetAtt': [id, attribute] });
const ref = (id: string): Json => ({ Ref: id });

const ofType = (template: Template, type: string): [string, Resource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

function resource(template: Template, id: string, type: string): Resource {
  const found = template.Resources[id];
  expect(found?.Type, `Resources.${id}`).toBe(type);
  return found!;
}

/** The logical id of the Lambda function whose handler is functions/<name>.handler. */
function functionId(template: Template, name: string): string {
  const found = ofType(template, 'AWS::Lambda::Function').filter(
    ([, { Properties }]) => Properties.Handler === `functions/${name}.handler`,
  );
  expect(found, `the ${name} function`).toHaveLength(1);
  return found[0]![0];
}

/** The logical id that `{ 'Fn::GetAtt': [id, attribute] }` names. */
function getAttTarget(value: Json | undefined, attribute = 'Arn'): string {
  const [id, got] = (value as { 'Fn::GetAtt'?: Json[] } | null)?.['Fn::GetAtt'] ?? [];
  expect(typeof id === 'string' && got === attribute, `${JSON.stringify(value)} is a Fn::GetAtt of ${attribute}`).toBe(
    true,
  );
  return id as string;
}

/** Whether `value` is a Ref or a Fn::GetAtt of the resource `id`. */
const refersTo = (value: Json | undefined, id: string): boolean =>
  JSON.stringify(value) === JSON.stringify(ref(id)) ||
  (value as { 'Fn::GetAtt'?: Json[] } | null)?.['Fn::GetAtt']?.[0] === id;

/** notify's function, its one event source mapping, the queue it reads and that queue's dead-letter queue. */
function notifyWiring(template: Template) {
  const notify = functionId(template, 'notify');
  const mappings = ofType(template, 'AWS::Lambda::EventSourceMapping').filter(([, { Properties }]) =>
    refersTo(Properties.FunctionName, notify),
  );
  expect(
    mappings.map(([id]) => id),
    'the event source mappings of notify',
  ).toHaveLength(1);
  const [mappingId, mapping] = mappings[0]!;
  const queueId = getAttTarget(mapping.Properties.EventSourceArn);
  const queue = resource(template, queueId, 'AWS::SQS::Queue').Properties;
  const redrive = (queue.RedrivePolicy ?? {}) as { deadLetterTargetArn?: Json; maxReceiveCount?: Json };
  const dlqId = getAttTarget(redrive.deadLetterTargetArn);
  const dlq = resource(template, dlqId, 'AWS::SQS::Queue').Properties;
  return { notify, mappingId, mapping: mapping.Properties, queueId, queue, redrive, dlqId, dlq };
}

/** The statements of an IAM role's inline policies. */
function roleStatements(role: Resource): { Effect?: Json; Action?: Json; Resource?: Json }[] {
  const policies = (role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Json } }[];
  return policies.flatMap(({ PolicyDocument }) => [PolicyDocument.Statement].flat() as Record<string, Json>[]);
}

/** Whether a statement of the role allows every action on every resource (literal or intrinsic ARNs). */
function allows(role: Resource, actions: string[], resources: Json[]): boolean {
  const list = (value: Json | undefined): Json[] => (value === undefined ? [] : [value].flat());
  return actions.every((action) =>
    resources.every((arn) =>
      roleStatements(role).some(
        (statement) =>
          statement.Effect === 'Allow' &&
          list(statement.Action).some((a) => a === action || a === '*' || a === `${action.split(':')[0]}:*`) &&
          list(statement.Resource).some((r) => r === '*' || JSON.stringify(r) === JSON.stringify(arn)),
      ),
    ),
  );
}

function trusts(role: Resource, service: string): boolean {
  const document = role.Properties.AssumeRolePolicyDocument as { Statement: Json };
  return ([document.Statement].flat() as { Effect?: Json; Principal?: { Service?: Json }; Action?: Json }[]).some(
    (statement) =>
      statement.Effect === 'Allow' &&
      [statement.Principal?.Service].flat().includes(service) &&
      [statement.Action].flat().includes('sts:AssumeRole'),
  );
}

const VARIANTS = [
  { name: 'default params (apiAuth=iam)', params: [], routeAuthorization: 'AWS_IAM' },
  { name: 'apiAuth=jwt', params: ['apiAuth=jwt'], routeAuthorization: 'JWT' },
] as const;

let work: string;
let spec: CloudFormationSpec;
const packaged = new Map<string, Packaged>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cloudformation-test-'));
  const [loaded, ...packages] = await Promise.all([
    loadCloudFormationSpec(),
    ...VARIANTS.map(({ params }, i) => packageService(join(work, String(i)), [...params])),
  ]);
  spec = loaded;
  for (const [i, { name }] of VARIANTS.entries()) packaged.set(name, packages[i]!);
}, 240_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each(VARIANTS)('the packaged CloudFormation template, $name', ({ name, routeAuthorization }) => {
  const get = () => packaged.get(name)!;

  it.each(['update', 'create'])(
    '%s-stack template: every type, property and reference is in the specification',
    (kind) => {
      const template = readJson(join(get().dir, `cloudformation-template-${kind}-stack.json`));
      const violations = checkTemplate(template, spec);

      expect(formatViolations(violations), `${violations.length} violation(s)`).toBe('');
    },
  );

  it('the check finds what it is for (the same template, broken on purpose)', () => {
    const template = structuredClone(get().template);
    const { notify, mappingId, mapping, queueId, dlqId } = notifyWiring(template);
    const { Properties: notifyProperties } = template.Resources[notify]!;
    const variables = (notifyProperties.Environment as { Variables: Record<string, Json> }).Variables;
    const rule = ofType(template, 'AWS::IoT::TopicRule')[0]!;
    const payload = rule[1].Properties.TopicRulePayload as { Actions: { Sqs: Record<string, Json> }[] };
    payload.Actions[0]!.Sqs.QueueURL = payload.Actions[0]!.Sqs.QueueUrl!;
    delete payload.Actions[0]!.Sqs.QueueUrl;
    (mapping.ScalingConfig as Record<string, Json>).MaxConcurrency = 4;
    delete notifyProperties.Role;
    notifyProperties.Architectures = 'arm64';
    variables.QUEUE_URL = getAtt(queueId, 'Url');
    variables.DLQ_ARN = { 'Fn::Sub': `\${${dlqId}x.Arn}` };
    template.Resources.Extra = { Type: 'AWS::SQS::Queues', Properties: {} };

    // Only what the breakage added: the template's own violations are the test above's.
    const before = new Set(checkTemplate(get().template, spec).map(({ path }) => path));
    expect(
      checkTemplate(template, spec)
        .map(({ path }) => path)
        .filter((path) => !before.has(path))
        .sort(),
    ).toEqual(
      [
        `Resources.${rule[0]}.Properties.TopicRulePayload.Actions[0].Sqs.QueueURL`,
        `Resources.${rule[0]}.Properties.TopicRulePayload.Actions[0].Sqs.QueueUrl`,
        `Resources.${mappingId}.Properties.ScalingConfig.MaxConcurrency`,
        `Resources.${notify}.Properties.Role`,
        `Resources.${notify}.Properties.Architectures`,
        `Resources.${notify}.Properties.Environment.Variables.QUEUE_URL`,
        `Resources.${notify}.Properties.Environment.Variables.DLQ_ARN`,
        'Resources.Extra.Type',
      ].sort(),
    );
  });

  it('notify: SQS queue with SSE and a redrive to an encrypted dead-letter queue after 5 receives', () => {
    const { queueId, queue, redrive, dlqId, dlq } = notifyWiring(get().template);

    expect(dlqId).not.toBe(queueId);
    expect(redrive.maxReceiveCount).toBe(5);
    for (const [id, properties] of [
      [queueId, queue],
      [dlqId, dlq],
    ] as const)
      expect(
        properties.SqsManagedSseEnabled === true || properties.KmsMasterKeyId !== undefined,
        `${id}: SqsManagedSseEnabled or KmsMasterKeyId`,
      ).toBe(true);
    // A message moved to a standard queue's DLQ keeps its first enqueue time: a shorter retention there loses it.
    expect(Number(dlq.MessageRetentionPeriod ?? 345_600)).toBeGreaterThanOrEqual(
      Number(queue.MessageRetentionPeriod ?? 345_600),
    );
  });

  it('notify: batches of 100 in a 1 s window, partial batch responses, at most 4 concurrent; visibility ≥ 6 × timeout', () => {
    const { template } = get();
    const { notify, mapping, queueId, queue } = notifyWiring(template);
    const timeout = Number(template.Resources[notify]!.Properties.Timeout);

    expect(mapping).toMatchObject({
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 4 },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
    });
    expect(mapping.Enabled ?? true).toBe(true);
    expect(timeout).toBeGreaterThan(0);
    expect(Number(queue.VisibilityTimeout)).toBeGreaterThanOrEqual(6 * timeout);
    // Lambda checks these on the execution role when it creates the mapping.
    const role = resource(template, getAttTarget(template.Resources[notify]!.Properties.Role), 'AWS::IAM::Role');
    expect(
      allows(role, ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'], [getAtt(queueId)]),
      'the notify role may consume the queue',
    ).toBe(true);
  });

  it('the IoT rule queues cm/notify into the queue, and its errors into the dead-letter queue', () => {
    const { template } = get();
    const { queueId, dlqId } = notifyWiring(template);
    const rules = ofType(template, 'AWS::IoT::TopicRule');
    expect(rules).toHaveLength(1);
    const payload = rules[0]![1].Properties.TopicRulePayload as {
      Sql: string;
      RuleDisabled?: Json;
      Actions: { Sqs?: { QueueUrl: Json; RoleArn: Json } }[];
      ErrorAction?: { Sqs?: { QueueUrl: Json; RoleArn: Json } };
    };

    expect(payload.Sql).toContain("'cm/notify'");
    expect(payload.RuleDisabled ?? false).toBe(false);
    expect(payload.Actions.map((action) => Object.keys(action))).toEqual([['Sqs']]);
    expect(payload.Actions[0]!.Sqs!.QueueUrl).toEqual(ref(queueId));
    expect(Object.keys(payload.ErrorAction ?? {})).toEqual(['Sqs']);
    expect(payload.ErrorAction!.Sqs!.QueueUrl).toEqual(ref(dlqId));
    for (const { RoleArn } of [payload.Actions[0]!.Sqs!, payload.ErrorAction!.Sqs!]) {
      const role = resource(template, getAttTarget(RoleArn), 'AWS::IAM::Role');
      expect(trusts(role, 'iot.amazonaws.com'), 'the rule role trusts IoT').toBe(true);
      expect(allows(role, ['sqs:SendMessage'], [getAtt(queueId), getAtt(dlqId)]), 'the rule role may send').toBe(true);
    }
  });

  it('api has a reserved concurrency', () => {
    const { template } = get();
    const reserved = template.Resources[functionId(template, 'api')]!.Properties.ReservedConcurrentExecutions;

    expect(Number.isInteger(reserved) && (reserved as number) > 0, `ReservedConcurrentExecutions ${reserved}`).toBe(
      true,
    );
  });

  it(`every route is authorized (${routeAuthorization})`, () => {
    const { template } = get();
    const routes = ofType(template, 'AWS::ApiGatewayV2::Route');
    const authorizers = ofType(template, 'AWS::ApiGatewayV2::Authorizer');

    expect(routes.length).toBeGreaterThan(0);
    for (const [id, route] of routes) expect(route.Properties.AuthorizationType, id).toBe(routeAuthorization);
    if (routeAuthorization === 'JWT') {
      expect(authorizers).toHaveLength(1);
      const [authorizerId, authorizer] = authorizers[0]!;
      expect(authorizer.Properties).toMatchObject({
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: expect.stringMatching(/^https:\/\//), Audience: [expect.any(String)] },
      });
      for (const [id, route] of routes) expect(route.Properties.AuthorizerId, id).toEqual(ref(authorizerId));
    } else {
      expect(authorizers).toEqual([]);
    }
  });

  it('every function zip is in the package, carries its handler and no source map', () => {
    const { dir, template } = get();
    const functions = ofType(template, 'AWS::Lambda::Function');
    const zips = readdirSync(dir).filter((file) => file.endsWith('.zip'));

    expect(functions.length).toBeGreaterThan(0);
    for (const [id, { Properties }] of functions) {
      const zip = basename(String((Properties.Code as { S3Key: Json }).S3Key));
      expect(zips, `${id}: ${zip} in the package`).toContain(zip);
      const handler = String(Properties.Handler).replace(/\.[^.]+$/, '');
      expect(
        zipEntries(join(dir, zip)).some(
          (entry) => /^\.(c|m)?js$/.test(entry.slice(handler.length)) && entry.startsWith(handler),
        ),
        `${zip} carries ${handler}.(c|m)js`,
      ).toBe(true);
    }
    for (const zip of zips)
      expect(
        zipEntries(join(dir, zip)).filter((entry) => entry.endsWith('.map')),
        zip,
      ).toEqual([]);
  });
});
