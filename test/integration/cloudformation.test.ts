/**
 * The packaged CloudFormation templates, checked as far as can be without deploying: `sls package` runs for the
 * default params and for apiAuth=jwt, and each template is checked against AWS's resource specification (see
 * test/support/cloudformation-spec.ts: types, property names at every level, required properties, references),
 * then for the deploy facts the service relies on: the notify queue (SSE, redrive to the dead-letter queue after
 * 5 receives, visibility ≥ 6 × the notify timeout), its event source mapping (partial batch responses, batches
 * of 100 in a 1 s window, at most 4 concurrent), the IoT rule queueing into it (errors to the dead-letter
 * queue) with a role that may, the api's reserved concurrency, the authorizer of every route (none for the page,
 * IAM or apiAuth for the machine routes, the JWT for the console's), the console's static files in the api zip,
 * zips that carry their handler and no source map, and least privilege: each function has a role of its own that grants
 * exactly what the function calls (every action and resource listed below), kafka-cluster, kafka and eks
 * actions never on "*". The alarms (each function's errors, the dead-letter queue, reconcile failed/partial, the
 * fleet-silent and scale-limit alerts, heartbeat's MSK lag) have no actions by default and notify alarmTopicArn
 * when it is set; the dashboard's body is JSON once substituted, and every EMF metric it or an alarm names is one
 * that lib/ or functions/ writes. The jwt variant also names the secrets by reference, sets alarmTopicArn, and is
 * given a planted secret the way deploys passed one before (a zkAuth param, ZK_AUTH in the shell): no file under
 * .serverless/, the zips' contents included, may hold it.
 *
 * Each packaging runs in a copy of the repository in a temporary directory (node_modules linked), so neither
 * the repository's .serverless/ nor its .esbuild/ (the kept source maps of the last `npm run package`) is touched.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_ASSETS } from '../../lib/dashboard/assets.js';
import { API_ROUTE_KEYS, ROUTE_KEYS_BY_ACCESS } from '../../lib/handlers/http.js';
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
  Conditions?: Record<string, Json>;
  Resources: Record<string, Resource>;
  Outputs?: Record<string, Json>;
}
interface Packaged {
  /** The package directory, .serverless/: both templates, the state file and the zips. */
  dir: string;
  template: Template;
}

/** `sls package` in a copy of the repository, with these --param values and environment variables. */
async function packageService(work: string, params: string[], extraEnv: Record<string, string>): Promise<Packaged> {
  const service = join(work, 'service');
  const dir = join(service, '.serverless');
  mkdirSync(service, { recursive: true });
  for (const entry of readdirSync(ROOT))
    if (!NOT_COPIED.has(entry) && !entry.endsWith('.log'))
      cpSync(join(ROOT, entry), join(service, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(service, 'node_modules'), 'dir');
  // The shell's store settings would land in the template's environment (serverless.yml reads them as fallbacks).
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(ZK_|ORCH_)/.test(name))),
    ...extraEnv,
  };
  const args = [SLS, 'package', ...params.map((param) => `--param=${param}`)];
  try {
    await promisify(execFile)(process.execPath, args, { cwd: service, env, timeout: 150_000, maxBuffer: 16 << 20 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`sls package ${params.join(' ')} failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error });
  }
  return { dir, template: readJson(join(dir, 'cloudformation-template-update-stack.json')) as Template };
}

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

interface ZipEntry {
  name: string;
  /** The entry's bytes, inflated. */
  data(): Buffer;
}

/** The entries of a zip archive, read from its central directory (no unzip tool needed). */
function zipEntries(file: string): ZipEntry[] {
  const zip = readFileSync(file);
  let end = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff) && end < 0; at--)
    if (zip.readUInt32LE(at) === 0x06054b50) end = at;
  if (end < 0) throw new Error(`${file}: no end of central directory, not a zip archive`);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  if (count === 0xffff || at === 0xffffffff) throw new Error(`${file}: a ZIP64 archive, not read here`);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: central directory entry ${i} is corrupt`);
    const nameLength = zip.readUInt16LE(at + 28);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const local = zip.readUInt32LE(at + 42);
    entries.push({
      name,
      data() {
        if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`${file}: ${name} has no local header`);
        const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
        const stored = zip.subarray(start, start + size);
        if (method === 0) return stored;
        if (method === 8) return inflateRawSync(stored);
        throw new Error(`${file}: ${name} uses compression method ${method}, not read here`);
      },
    });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

/** Every file under `dir` with its bytes, and every entry of each zip among them as `<zip>!<entry>`. */
function packagedFiles(dir: string): { path: string; data: Buffer }[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).flatMap((relative) => {
    const path = join(dir, relative);
    if (!statSync(path).isFile()) return [];
    const file = { path: relative, data: readFileSync(path) };
    if (!relative.endsWith('.zip')) return [file];
    return [file, ...zipEntries(path).map((entry) => ({ path: `${relative}!${entry.name}`, data: entry.data() }))];
  });
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

/** The values the pseudo parameters take in resolved ARNs: the region and account of the default mskClusterArn. */
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
};

/**
 * `value` with its intrinsics resolved as CloudFormation would: pseudo parameters, Fn::Sub, Fn::Select, Fn::Split,
 * Fn::Join. A resource stays a token: `<Id>` for its Ref, `<Id.Attribute>` for a Fn::GetAtt.
 */
function resolve(value: Json): Json {
  if (Array.isArray(value)) return value.map(resolve);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const [key, argument] = entries.length === 1 ? entries[0]! : [];
  switch (key) {
    case 'Ref':
      return PSEUDO[argument as string] ?? `<${argument}>`;
    case 'Fn::GetAtt':
      return `<${(argument as string[]).join('.')}>`;
    case 'Fn::Select': {
      const [index, list] = argument as [Json, Json];
      return (resolve(list) as Json[])[Number(resolve(index))] ?? null;
    }
    case 'Fn::Split': {
      const [separator, text] = argument as [string, Json];
      return String(resolve(text)).split(separator);
    }
    case 'Fn::Join': {
      const [separator, list] = argument as [string, Json];
      return (resolve(list) as Json[]).join(separator);
    }
    case 'Fn::Sub': {
      const [text, variables] = (Array.isArray(argument) ? argument : [argument, {}]) as [string, Record<string, Json>];
      return text.replace(/\$\{([^!}][^}]*)\}/g, (_, name: string) =>
        name in variables ? String(resolve(variables[name]!)) : (PSEUDO[name] ?? `<${name}>`),
      );
    }
    default:
      return Object.fromEntries(entries.map(([name, item]) => [name, resolve(item)]));
  }
}

/** A condition of the template, decided: Fn::Equals of resolved values, Fn::Not, Fn::And, Fn::Or, Condition. */
function condition(template: Template, name: string): boolean {
  const decide = (value: Json | undefined): boolean => {
    const [key, argument] = Object.entries((value ?? {}) as Record<string, Json>)[0] ?? [];
    const args = [argument].flat() as Json[];
    if (key === 'Fn::Equals') return JSON.stringify(resolve(args[0]!)) === JSON.stringify(resolve(args[1]!));
    if (key === 'Fn::Not') return !decide(args[0]);
    if (key === 'Fn::And') return args.every(decide);
    if (key === 'Fn::Or') return args.some(decide);
    if (key === 'Condition') return condition(template, argument as string);
    throw new Error(`condition ${name}: ${JSON.stringify(value)} is not decided here`);
  };
  return decide(template.Conditions?.[name]);
}

interface Statement {
  Effect?: Json;
  Action?: Json;
  Resource?: Json;
  Condition?: Json;
}

/** A statement, or the branch of its Fn::If that the template's conditions choose (none for AWS::NoValue). */
function decided(template: Template, statement: Json): Statement[] {
  const branches = (statement as { 'Fn::If'?: [string, Json, Json] } | null)?.['Fn::If'];
  if (!branches) return [statement as Statement];
  const chosen = condition(template, branches[0]) ? branches[1] : branches[2];
  return JSON.stringify(chosen) === JSON.stringify(ref('AWS::NoValue')) ? [] : decided(template, chosen);
}

/** The statements of an IAM role: its inline policies and the template's managed policies it attaches. */
function roleStatements(template: Template, roleId: string): Statement[] {
  const role = resource(template, roleId, 'AWS::IAM::Role').Properties;
  const documents = [
    ...((role.Policies ?? []) as { PolicyDocument: Json }[]).map(({ PolicyDocument }) => PolicyDocument),
    ...((role.ManagedPolicyArns ?? []) as Json[]).map((arn) => {
      // A policy outside the template (an AWS managed one) could grant anything: none is attached.
      const policyId = (arn as { Ref?: string } | null)?.Ref;
      expect(policyId, `${roleId}: ${JSON.stringify(arn)} is a managed policy of the template`).toEqual(
        expect.any(String),
      );
      return resource(template, policyId!, 'AWS::IAM::ManagedPolicy').Properties.PolicyDocument!;
    }),
  ];
  return documents.flatMap((document) =>
    [(document as { Statement: Json }).Statement].flat().flatMap((statement) => decided(template, statement)),
  );
}

/**
 * What a role allows, sorted, one "action resource" per pair, the resource resolved (see resolve); a statement's
 * condition follows as " if <condition as JSON, resolved>", so a conditional grant never reads as a plain one.
 */
function grants(template: Template, roleId: string): string[] {
  const list = (value: Json | undefined): Json[] => (value === undefined ? [] : [value].flat());
  return roleStatements(template, roleId)
    .flatMap((statement) => {
      expect(statement.Effect, `${roleId}: Allow statements only`).toBe('Allow');
      const resources = list(resolve(statement.Resource ?? null));
      const condition = statement.Condition === undefined ? '' : ` if ${JSON.stringify(resolve(statement.Condition))}`;
      return list(statement.Action).flatMap((action) =>
        resources.map((arn) => `${action} ${typeof arn === 'string' ? arn : JSON.stringify(arn)}${condition}`),
      );
    })
    .sort();
}

/** Whether the role allows every action on every resource (resolved ARNs or `<Id.Arn>` tokens). */
function allows(template: Template, roleId: string, actions: string[], resources: string[]): boolean {
  const granted = new Set(grants(template, roleId));
  return actions.every((action) => resources.every((arn) => granted.has(`${action} ${arn}`)));
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

interface AlarmProperties {
  Namespace?: Json;
  MetricName?: Json;
  Dimensions?: { Name: Json; Value: Json }[];
  Statistic?: Json;
  Period?: Json;
  Threshold?: Json;
  ComparisonOperator?: Json;
  AlarmActions?: Json;
  OKActions?: Json;
}

/** The template's alarms on `namespace`/`metric`, by logical id. */
const alarmsOn = (template: Template, namespace: string, metric: string): [string, AlarmProperties][] =>
  ofType(template, 'AWS::CloudWatch::Alarm')
    .map(([id, { Properties }]): [string, AlarmProperties] => [id, Properties as AlarmProperties])
    .filter(([, alarm]) => alarm.Namespace === namespace && alarm.MetricName === metric);

/** A property's value once the template's conditions chose its Fn::If branch; undefined for AWS::NoValue. */
function chosen(template: Template, value: Json | undefined): Json | undefined {
  const branches = (value as { 'Fn::If'?: [string, Json, Json] } | null | undefined)?.['Fn::If'];
  if (!branches) return value;
  const branch = condition(template, branches[0]) ? branches[1] : branches[2];
  return JSON.stringify(branch) === JSON.stringify(ref('AWS::NoValue')) ? undefined : chosen(template, branch);
}

/** Every source file of lib/ and functions/, read: the EMF metric names an alarm or the dashboard names are there. */
const SOURCES = ['lib', 'functions']
  .flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => readFileSync(join(ROOT, dir, file), 'utf8')),
  )
  .join('\n');
const emitted = (metric: string): boolean => SOURCES.includes(`'${metric}'`);

/** A value planted the ways deploys passed the ZooKeeper credentials before: it must reach no packaged file. */
const PLANTED = 'planted-7d41c0e9f3';
const ZK_AUTH_SECRET = 'iota/zookeeper-auth';
const CATALOG_PASSWORD_SECRET = 'iota/catalog-password';
const KAFKA_SASL_SECRET = 'AmazonMSK_iota-alerts';
const EKS_CLUSTER = 'iota-prod';

const ALARM_TOPIC = 'arn:aws:sns:eu-west-1:123456789012:iota-orchestrator-alarms';

const VARIANTS = [
  {
    name: 'default params (apiAuth=iam)',
    params: [],
    env: {},
    routeAuthorization: 'AWS_IAM',
    secrets: false,
    alarmTopic: undefined,
  },
  {
    name: 'apiAuth=jwt, secrets and the EKS cluster named, a planted one passed the old way, an alarm topic',
    params: [
      'apiAuth=jwt',
      `eksClusterName=${EKS_CLUSTER}`,
      `zkAuthSecret=${ZK_AUTH_SECRET}`,
      `catalogPasswordSecret=${CATALOG_PASSWORD_SECRET}`,
      `kafkaSaslSecret=${KAFKA_SASL_SECRET}`,
      `zkAuth=orchestrator:${PLANTED}`,
      `alarmTopicArn=${ALARM_TOPIC}`,
    ],
    env: { ZK_AUTH: `orchestrator:${PLANTED}` },
    routeAuthorization: 'JWT',
    secrets: true,
    alarmTopic: ALARM_TOPIC,
  },
] as const;

const MSK_CLUSTER = 'arn:aws:kafka:eu-west-1:123456789012:cluster/iota-msk/00000000-0000-0000-0000-000000000000-1';
const MSK_PREFIX = 'arn:aws:kafka:eu-west-1:123456789012';
const MSK_CLUSTER_PATH = 'iota-msk/00000000-0000-0000-0000-000000000000-1';
const HEARTBEAT_GROUP = 'iota-orchestrator-dev-heartbeat';
const secretArn = (name: string): string => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-??????`;
const VPC_NETWORKING = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:UnassignPrivateIpAddresses',
].map((action) => `${action} *`);

/**
 * Each function's grants beyond its log group, VPC networking and the ZooKeeper secret (which all have), when
 * the variant names the secrets and the EKS cluster (`named`) or not. A function added to serverless.yml fails
 * the test until it is listed here with its own.
 */
const OWN_GRANTS: Record<string, (named: boolean) => string[]> = {
  api: () => [],
  notify: () =>
    ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'].map((a) => `${a} <NotifyQueue.Arn>`),
  heartbeat: () => [
    ...['kafka:DescribeCluster', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'].map(
      (a) => `${a} ${MSK_CLUSTER}`,
    ),
    'ec2:DescribeSecurityGroups *',
    'ec2:DescribeVpcs *',
    `kafka-cluster:Connect ${MSK_CLUSTER}`,
    `kafka-cluster:DescribeClusterDynamicConfiguration ${MSK_CLUSTER}`,
    `kafka-cluster:DescribeTopic ${MSK_PREFIX}:topic/${MSK_CLUSTER_PATH}/HeartBeat`,
    `kafka-cluster:ReadData ${MSK_PREFIX}:topic/${MSK_CLUSTER_PATH}/HeartBeat`,
    `kafka-cluster:DescribeGroup ${MSK_PREFIX}:group/${MSK_CLUSTER_PATH}/${HEARTBEAT_GROUP}`,
    `kafka-cluster:AlterGroup ${MSK_PREFIX}:group/${MSK_CLUSTER_PATH}/${HEARTBEAT_GROUP}`,
  ],
  // eksClusterName is empty by default: no cluster, no grant.
  reconcile: (named) =>
    named ? [`eks:DescribeCluster arn:aws:eks:eu-west-1:123456789012:cluster/${EKS_CLUSTER}`] : [],
  alerts: (named) => [
    `kafka-cluster:Connect ${MSK_CLUSTER}`,
    `kafka-cluster:DescribeTopic ${MSK_PREFIX}:topic/${MSK_CLUSTER_PATH}/Alert`,
    `kafka-cluster:WriteData ${MSK_PREFIX}:topic/${MSK_CLUSTER_PATH}/Alert`,
    // SCRAM: the user's secret, and its customer managed key only through Secrets Manager, for that secret.
    ...(named
      ? [
          `secretsmanager:GetSecretValue ${secretArn(KAFKA_SASL_SECRET)}`,
          `kms:Decrypt * if ${JSON.stringify({
            StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
            StringLike: { 'kms:EncryptionContext:SecretARN': secretArn(KAFKA_SASL_SECRET) },
          })}`,
        ]
      : []),
  ],
  catalog: (named) => (named ? [`secretsmanager:GetSecretValue ${secretArn(CATALOG_PASSWORD_SECRET)}`] : []),
};

/** The name of the function whose handler is functions/<name>.handler. */
const functionName = (properties: Record<string, Json>): string =>
  /^functions\/(.+)\.handler$/.exec(String(properties.Handler))![1]!;

let work: string;
let spec: CloudFormationSpec;
const packaged = new Map<string, Packaged>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cloudformation-test-'));
  const [loaded, ...packages] = await Promise.all([
    loadCloudFormationSpec(),
    ...VARIANTS.map(({ params, env }, i) => packageService(join(work, String(i)), [...params], env)),
  ]);
  spec = loaded;
  for (const [i, { name }] of VARIANTS.entries()) packaged.set(name, packages[i]!);
}, 240_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each(VARIANTS)('the packaged CloudFormation template, $name', ({ name, routeAuthorization, secrets }) => {
  const get = () => packaged.get(name)!;
  const { alarmTopic } = VARIANTS.find((variant) => variant.name === name)!;

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
    const roleId = getAttTarget(template.Resources[notify]!.Properties.Role);
    expect(
      allows(
        template,
        roleId,
        ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        [`<${queueId}.Arn>`],
      ),
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
      const roleId = getAttTarget(RoleArn);
      expect(
        trusts(resource(template, roleId, 'AWS::IAM::Role'), 'iot.amazonaws.com'),
        'the rule role trusts IoT',
      ).toBe(true);
      expect(
        allows(template, roleId, ['sqs:SendMessage'], [`<${queueId}.Arn>`, `<${dlqId}.Arn>`]),
        'the rule role may send',
      ).toBe(true);
    }
  });

  it('api has a reserved concurrency', () => {
    const { template } = get();
    const reserved = template.Resources[functionId(template, 'api')]!.Properties.ReservedConcurrentExecutions;

    expect(Number.isInteger(reserved) && (reserved as number) > 0, `ReservedConcurrentExecutions ${reserved}`).toBe(
      true,
    );
  });

  it(`authorizes the page with nothing, machine routes with ${routeAuthorization}, console routes with the JWT`, () => {
    const { template } = get();
    const routes = new Map(
      ofType(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => [
        String(route.Properties.RouteKey),
        route.Properties,
      ]),
    );
    const authorizers = ofType(template, 'AWS::ApiGatewayV2::Authorizer');

    expect([...routes.keys()].sort()).toEqual([...API_ROUTE_KEYS].sort());
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0]!;
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: expect.stringMatching(/^https:\/\//), Audience: ['iota-console'] },
    });
    const jwt = { AuthorizationType: 'JWT', AuthorizerId: ref(authorizerId) };
    for (const key of ROUTE_KEYS_BY_ACCESS.public)
      expect(routes.get(key)?.AuthorizationType ?? 'NONE', key).toBe('NONE');
    for (const key of ROUTE_KEYS_BY_ACCESS.console) expect(routes.get(key), key).toMatchObject(jwt);
    for (const key of ROUTE_KEYS_BY_ACCESS.machine)
      expect(routes.get(key), key).toMatchObject(routeAuthorization === 'JWT' ? jwt : { AuthorizationType: 'AWS_IAM' });
  });

  it('the api zip carries the console static files beside its bundle', () => {
    const { dir, template } = get();
    const api = template.Resources[functionId(template, 'api')]!.Properties;
    const zip = basename(String((api.Code as { S3Key: Json }).S3Key));
    const entries = zipEntries(join(dir, zip)).map((entry) => entry.name);

    expect(entries).toEqual(expect.arrayContaining(Object.values(CONSOLE_ASSETS).map((asset) => asset.file)));
    expect(entries.filter((entry) => entry.startsWith('node_modules/'))).toEqual([
      CONSOLE_ASSETS['oidc-client-ts.min.js']!.file,
    ]);
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
          ({ name: entry }) => /^\.(c|m)?js$/.test(entry.slice(handler.length)) && entry.startsWith(handler),
        ),
        `${zip} carries ${handler}.(c|m)js`,
      ).toBe(true);
    }
    for (const zip of zips)
      expect(
        zipEntries(join(dir, zip))
          .map((entry) => entry.name)
          .filter((entry) => entry.endsWith('.map')),
        zip,
      ).toEqual([]);
  });

  it('each function has a role of its own, trusted by Lambda, granting exactly what the function calls', () => {
    const { template } = get();
    const functions = ofType(template, 'AWS::Lambda::Function');
    const roles = functions.map(([, { Properties }]) => getAttTarget(Properties.Role));

    expect(new Set(roles).size, `roles ${roles.join(', ')}`).toBe(functions.length);
    expect(template.Resources.IamRoleLambdaExecution, 'the shared default role').toBeUndefined();
    for (const [id, fn] of functions) {
      const name = functionName(fn.Properties);
      const roleId = getAttTarget(fn.Properties.Role);
      const logGroup = [fn.DependsOn ?? []]
        .flat()
        .find((dependency) => template.Resources[dependency]?.Type === 'AWS::Logs::LogGroup');
      expect(OWN_GRANTS[name], `${id}: functions/${name} is listed in OWN_GRANTS with what it calls`).toBeDefined();
      expect(trusts(resource(template, roleId, 'AWS::IAM::Role'), 'lambda.amazonaws.com'), roleId).toBe(true);
      expect(grants(template, roleId), `${roleId} (${name})`).toEqual(
        [
          `logs:CreateLogStream <${logGroup}.Arn>`,
          `logs:PutLogEvents <${logGroup}.Arn>`,
          ...VPC_NETWORKING,
          ...(secrets ? [`secretsmanager:GetSecretValue ${secretArn(ZK_AUTH_SECRET)}`] : []),
          ...OWN_GRANTS[name]!(secrets),
        ].sort(),
      );
    }
  });

  it('no role allows a kafka-cluster, kafka or eks action on "*" or on a wildcard ARN', () => {
    const { template } = get();
    const scoped = ofType(template, 'AWS::IAM::Role').flatMap(([roleId]) =>
      grants(template, roleId).filter((grant) => /^(kafka-cluster|kafka|eks):/.test(grant)),
    );

    expect(scoped.length).toBeGreaterThan(0);
    expect(scoped.filter((grant) => grant.split(' ')[1]!.includes('*'))).toEqual([]);
  });

  it('heartbeat reads as the consumer group its role names', () => {
    const { template } = get();
    const heartbeat = functionId(template, 'heartbeat');
    const mappings = ofType(template, 'AWS::Lambda::EventSourceMapping').filter(([, { Properties }]) =>
      refersTo(Properties.FunctionName, heartbeat),
    );

    expect(mappings.map(([, { Properties }]) => Properties)).toEqual([
      expect.objectContaining({
        EventSourceArn: MSK_CLUSTER,
        Topics: ['HeartBeat'],
        AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: HEARTBEAT_GROUP },
      }),
    ]);
  });

  it('alarms on the errors of each function, the dead-letter queue, reconcile failed/partial, the alerts, heartbeat lag', () => {
    const { template } = get();
    const { dlqId } = notifyWiring(template);
    const dimensions = (alarm: AlarmProperties) => alarm.Dimensions ?? [];

    for (const fn of Object.keys(OWN_GRANTS)) {
      const id = functionId(template, fn);
      const alarms = alarmsOn(template, 'AWS/Lambda', 'Errors').filter(([, alarm]) =>
        dimensions(alarm).some(({ Name, Value }) => Name === 'FunctionName' && refersTo(Value, id)),
      );
      expect(alarms, `the errors alarm of ${fn}`).toHaveLength(1);
      expect(alarms[0]![1]).toMatchObject({ Statistic: 'Sum', Threshold: 1 });
      expect(alarms[0]![1].ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    }
    expect(alarmsOn(template, 'AWS/Lambda', 'Errors')).toHaveLength(Object.keys(OWN_GRANTS).length);

    const dlq = alarmsOn(template, 'AWS/SQS', 'ApproximateNumberOfMessagesVisible');
    expect(dlq.map(([, alarm]) => alarm)).toEqual([
      expect.objectContaining({
        Dimensions: [{ Name: 'QueueName', Value: getAtt(dlqId, 'QueueName') }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    ]);

    for (const metric of ['ReconcileFailed', 'ReconcilePartial']) {
      expect(emitted(metric), `${metric} is emitted`).toBe(true);
      expect(
        alarmsOn(template, 'IotaOrchestrator', metric).map(([, alarm]) => alarm.Dimensions),
        metric,
      ).toEqual([[{ Name: 'Function', Value: 'reconcile' }]]);
    }

    expect(emitted('AlertsRaised')).toBe(true);
    expect(
      alarmsOn(template, 'IotaOrchestrator', 'AlertsRaised')
        .map(([, alarm]) => alarm.Dimensions)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([[{ Name: 'AlertType', Value: 'fleet-silent' }], [{ Name: 'AlertType', Value: 'scale-limit' }]]);

    const lag = alarmsOn(template, 'AWS/Lambda', 'OffsetLag');
    expect(lag).toHaveLength(1);
    expect(lag[0]![1]).toMatchObject({
      Statistic: 'Maximum',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(Number(lag[0]![1].Threshold)).toBe(10000);
    expect(refersTo(lag[0]![1].Dimensions?.[0]?.Value, functionId(template, 'heartbeat'))).toBe(true);
  });

  it(alarmTopic ? 'every alarm notifies the alarm topic' : 'with no alarm topic, no alarm has an action', () => {
    const { template } = get();
    const alarms = ofType(template, 'AWS::CloudWatch::Alarm');
    const expected = alarmTopic ? [alarmTopic] : undefined;

    expect(alarms.length).toBeGreaterThan(0);
    for (const [id, { Properties }] of alarms) {
      expect(chosen(template, Properties.AlarmActions), `${id} AlarmActions`).toEqual(expected);
      expect(chosen(template, Properties.OKActions), `${id} OKActions`).toEqual(expected);
    }
  });

  it('a dashboard whose body is JSON, naming template resources and the metrics the functions emit', () => {
    const { template } = get();
    const dashboards = ofType(template, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const text = resolve(dashboards[0]![1].Properties.DashboardBody!);
    expect(typeof text).toBe('string');
    // Every ${…} of the Fn::Sub was a pseudo parameter or a resource of the template (now a <token>).
    const tokens = [...new Set((text as string).match(/<[^<>"]+>/g) ?? [])];
    for (const token of tokens) expect(template.Resources, token).toHaveProperty(token.slice(1, -1).split('.')[0]!);
    const body = JSON.parse(text as string) as { widgets: { properties: { region: string; metrics: Json[][] } }[] };

    expect(body.widgets.length).toBeGreaterThan(0);
    const rows = body.widgets.flatMap(({ properties }) => {
      expect(properties.region).toBe('eu-west-1');
      return properties.metrics;
    });
    const named = rows.filter((row) => typeof row[0] === 'string').map((row) => row.slice(0, 4).join(' '));
    const searched = rows
      .map((row) => (row[0] as { expression?: string }).expression)
      .filter((expression) => expression !== undefined);
    for (const fn of Object.keys(OWN_GRANTS))
      for (const metric of ['Errors', 'Duration'])
        expect(named).toContain(`AWS/Lambda ${metric} FunctionName <${functionId(template, fn)}>`);
    expect(named).toContain(
      `AWS/SQS ApproximateNumberOfMessagesVisible QueueName <${notifyWiring(template).dlqId}.QueueName>`,
    );
    expect(named).toContain(`AWS/Lambda OffsetLag FunctionName <${functionId(template, 'heartbeat')}>`);
    const emf = [
      ...named.filter((row) => row.startsWith('IotaOrchestrator ')).map((row) => row.split(' ')[1]!),
      ...searched.map((expression) => /MetricName="(\w+)"/.exec(expression)![1]!),
    ];
    expect(emf).toEqual(
      expect.arrayContaining([
        'NotifyMessages',
        'HeartbeatRecords',
        'ReconcileRuns',
        'ReconcileFailed',
        'PodsCreated',
        'CurrentInstances',
        'DesiredInstances',
        'ResourcesMoved',
        'AlertsRaised',
        'CatalogMissing',
        'CatalogPassFailures',
      ]),
    );
    for (const metric of emf) expect(emitted(metric), `${metric} is emitted by lib/ or functions/`).toBe(true);
  });

  it.runIf(secrets)(
    'no file under .serverless/ (zip contents included) holds the planted secret; the template names the secrets',
    () => {
      const { dir, template } = get();
      const files = packagedFiles(dir);
      const holding = (text: string): string[] =>
        files.filter(({ data }) => data.includes(text)).map(({ path }) => path);
      const environments = ofType(template, 'AWS::Lambda::Function').map(
        ([, { Properties }]) => (Properties.Environment as { Variables: Record<string, Json> }).Variables,
      );

      // The search reads what it must: the templates, and the bundles inside the zips.
      expect(holding(ZK_AUTH_SECRET)).toEqual(expect.arrayContaining(['cloudformation-template-update-stack.json']));
      expect(holding('secretsmanager.GetSecretValue')).toEqual(
        expect.arrayContaining([expect.stringMatching(/^api\.zip!functions\/api\.c?js$/)]),
      );
      expect(holding(PLANTED)).toEqual([]);
      for (const variables of environments) {
        expect(variables.ZK_AUTH_SECRET).toBe(ZK_AUTH_SECRET);
        expect(variables).not.toHaveProperty('ZK_AUTH');
      }
      expect(environments.map((variables) => variables.CATALOG_PASSWORD_SECRET).filter(Boolean)).toEqual([
        CATALOG_PASSWORD_SECRET,
      ]);
    },
  );
});
