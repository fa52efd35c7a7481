/**
 * Every environment variable `npm start` reads, with its local default and what it means: one table that
 * lib/local/config.ts both applies and prints as `--help`.
 */
import { DEFAULT_ROOT, DEFAULT_STATE_ROOT } from '../orchestration/layout.js';
import { DEFAULT_DATA_DIR } from '../store/open.js';

export interface EnvVariable {
  readonly name: string;
  /** Shown in --help; `undefined` means "unset". */
  readonly localDefault: string | undefined;
  readonly description: string;
  /** Applied to the environment when unset (otherwise only documented). */
  readonly apply?: boolean;
  readonly group: 'local' | 'store' | 'messaging' | 'orchestration' | 'worker' | 'logging';
}

export const ENV_VARIABLES: readonly EnvVariable[] = [
  {
    group: 'local',
    name: 'PORT',
    localDefault: '9281',
    description: 'HTTP API and dashboard port on 127.0.0.1 (the legacy port); 0 picks a free one',
  },
  {
    group: 'local',
    name: 'MQTT_PORT',
    localDefault: '1883',
    description: 'port of the embedded MQTT broker on 127.0.0.1; 0 picks a free one',
  },
  {
    group: 'local',
    name: 'RECONCILE_INTERVAL',
    localDefault: '10',
    description: 'seconds between reconcile runs (Lambda: every minute)',
  },
  {
    group: 'local',
    name: 'INBOX_DRAIN_SECONDS',
    localDefault: '10',
    description:
      'on Ctrl-C/SIGTERM, how long the messages the embedded broker acknowledged are applied before exit (the rest waits in $ORCH_DATA_DIR/mqtt-inbox.db for the next start)',
  },
  {
    group: 'local',
    name: 'CONSOLE_OIDC_ISSUER',
    localDefault: undefined,
    description:
      'OpenID Connect issuer the dashboard signs in with; the console routes (/console/v1/api) then need its JWT, checked as the deployed JWT authorizer does. Unset: no sign-in, loopback callers only',
  },
  {
    group: 'local',
    name: 'CONSOLE_OIDC_CLIENT_ID',
    localDefault: undefined,
    description: 'with CONSOLE_OIDC_ISSUER: the public client the dashboard signs in as (authorization code + PKCE)',
  },
  {
    group: 'local',
    name: 'CONSOLE_OIDC_AUDIENCE',
    localDefault: 'the client id',
    description: "comma-separated: a token's aud (or, without one, its client_id) must name one of these",
  },
  { group: 'local', name: 'CONSOLE_OIDC_SCOPE', localDefault: 'openid', description: 'scopes the dashboard asks for' },
  {
    group: 'store',
    name: 'ORCH_DATA_DIR',
    localDefault: DEFAULT_DATA_DIR,
    description: 'embedded SQLite store, worker state files and worker logs',
  },
  {
    group: 'store',
    name: 'ZK_CONNECT',
    localDefault: undefined,
    description: 'ZooKeeper connect string (host:port,...); set = ZooKeeper instead of SQLite',
  },
  {
    group: 'store',
    name: 'ZK_SESSION_TIMEOUT_MS',
    localDefault: undefined,
    description: 'ZooKeeper session timeout (store adapter default when unset)',
  },
  { group: 'store', name: 'ZK_AUTH', localDefault: undefined, description: 'ZooKeeper digest auth "user:password"' },
  {
    group: 'store',
    name: 'ZK_AUTH_SECRET',
    localDefault: undefined,
    description: 'instead of ZK_AUTH: the Secrets Manager secret holding "user:password" (read once at start)',
  },
  { group: 'store', name: 'ZK_ROOT', localDefault: DEFAULT_ROOT, description: 'legacy layout root the workers read' },
  {
    group: 'store',
    name: 'ZK_STATE_ROOT',
    localDefault: DEFAULT_STATE_ROOT,
    description: "the orchestrator's own nodes (index, heartbeats, records, leases)",
  },
  {
    group: 'messaging',
    name: 'MQTT_URL',
    localDefault: undefined,
    description: 'external MQTT broker (e.g. mqtt://127.0.0.1:1883); set = no embedded broker',
  },
  {
    group: 'messaging',
    name: 'KAFKA_BROKERS',
    localDefault: undefined,
    description: 'host:port,...; set = heartbeats over Kafka topic HeartBeat instead of MQTT',
  },
  {
    group: 'messaging',
    name: 'KAFKA_GROUP_ID',
    localDefault: 'iota-orchestrator',
    description: 'consumer group of the HeartBeat consumer (one group for all kinds)',
  },
  {
    group: 'messaging',
    name: 'KAFKA_ALERT_TOPIC',
    localDefault: 'Alert',
    description:
      'where alerts go when KAFKA_BROKERS is set (also KAFKA_SSL, KAFKA_SASL_MECHANISM/USERNAME/PASSWORD or KAFKA_SASL_SECRET)',
  },
  {
    group: 'orchestration',
    name: 'ORCH_KINDS',
    localDefault: undefined,
    description:
      'JSON array of kinds; default Thing (iota-dac) and Rule (iota-rules-engine), 10 initial instances each',
  },
  {
    group: 'orchestration',
    name: 'ORCH_RUNTIME',
    localDefault: 'processes',
    description: '"processes" (local workers) or "kubernetes" (default when EKS_CLUSTER_NAME or K8S_SERVER is set)',
  },
  {
    group: 'orchestration',
    name: 'K8S_SERVER',
    localDefault: undefined,
    description:
      'with kubernetes: API server URL (+ K8S_TOKEN, K8S_CA_FILE or K8S_CA_DATA, K8S_NAMESPACE=iota); or EKS_CLUSTER_NAME + AWS_REGION',
  },
  {
    group: 'orchestration',
    name: 'ORCH_TEMPLATES_DIR',
    localDefault: 'infra/templates',
    description: 'pod templates for the kubernetes runtime',
  },
  {
    group: 'orchestration',
    name: 'HEARTBEAT_TIMEOUT_SECONDS',
    localDefault: '15',
    apply: true,
    description: 'silence after which an instance is recycled (Lambda default 90, the legacy period)',
  },
  {
    group: 'orchestration',
    name: 'STARTUP_GRACE_SECONDS',
    localDefault: '10',
    apply: true,
    description: 'a new worker is never recycled for silence this young (Lambda default 120)',
  },
  {
    group: 'orchestration',
    name: 'FLEET_SILENT_FRACTION',
    localDefault: '0.5',
    description: 'more than this fraction silent at once = pipeline outage: alert, recycle none',
  },
  {
    group: 'orchestration',
    name: 'MAX_RECYCLES_PER_RUN',
    localDefault: '3',
    description: 'recycles per kind per reconcile run',
  },
  {
    group: 'orchestration',
    name: 'MAX_POD_CREATIONS_PER_RUN',
    localDefault: '64',
    description:
      'slow start: a reconcile run creates pods 1, 2, 4, … at a time while creations succeed, at most this many',
  },
  {
    group: 'orchestration',
    name: 'LOCAL_MAX_PROCESSES',
    localDefault: '16',
    description: 'local runtime: most worker processes at once, every kind together (beyond: orchestrate answers 409)',
  },
  {
    group: 'orchestration',
    name: 'CATALOG_URL',
    localDefault: undefined,
    description:
      "the platform's PostgreSQL catalog (postgres://user@host/db); set = catalog passes every CATALOG_EVERY_MINUTES (15)",
  },
  {
    group: 'orchestration',
    name: 'CATALOG_PASSWORD_SECRET',
    localDefault: undefined,
    description: "with CATALOG_URL: the Secrets Manager secret holding the catalog's password (plain or RDS JSON)",
  },
  {
    group: 'orchestration',
    name: 'LEASE_TTL_SECONDS',
    localDefault: '60',
    description: 'how long a reconcile lease outlives a crashed holder',
  },
  {
    group: 'orchestration',
    name: 'ORCHESTRATE_LEASE_SECONDS',
    localDefault: '25',
    description: 'orchestrate lease, renewed while it works; an abandoned one frees within this',
  },
  {
    group: 'worker',
    name: 'HEARTBEAT_INTERVAL',
    localDefault: '3',
    apply: true,
    description: 'seconds between worker heartbeats (0 = none)',
  },
  {
    group: 'worker',
    name: 'WORKER_COMMAND',
    localDefault: undefined,
    description: 'run this worker instead of the reference one (split on spaces, no shell)',
  },
  {
    group: 'worker',
    name: 'WORKER_CPU_MS_PER_RESOURCE',
    localDefault: '0',
    description: 'CPU ms each worker burns per served resource per second (0 = off): makes load-driven scaling visible',
  },
  {
    group: 'worker',
    name: 'LOCAL_WORKER_CPU_REQUEST_MILLIS',
    localDefault: '250',
    description: 'CPU request of a local worker: usage is reported as a percent of it (0 = none)',
  },
  {
    group: 'worker',
    name: 'LOCAL_WORKER_MEMORY_REQUEST_MB',
    localDefault: '256',
    description: 'memory request of a local worker in MiB: usage is a percent of it (0 = none)',
  },
  {
    group: 'worker',
    name: 'WORKER_LOG_LEVEL',
    localDefault: 'info',
    description: 'log level of the workers (their logs are in $ORCH_DATA_DIR/logs)',
  },
  {
    group: 'logging',
    name: 'LOG_FORMAT',
    localDefault: 'pretty on a terminal, else json',
    description: '"pretty" or "json"',
  },
  {
    group: 'logging',
    name: 'LOG_LEVEL',
    localDefault: 'info (warn for component logs in pretty mode)',
    description: 'pino level of the structured logs',
  },
];
