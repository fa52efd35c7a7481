/**
 * The envelope schemas against golden payloads in the shapes AWS documents,
 * and every sample event under events/ against the schema of the function it
 * is meant for, so `sls invoke local --path events/…` never feeds a stale shape.
 */
import { describe, expect, it } from 'vitest';
import {
  HttpApiEventSchema,
  MskEventSchema,
  MskRecordSchema,
  ScheduledEventSchema,
  SqsEventSchema,
} from '../../../lib/handlers/events.js';
import { readMskRecords } from '../../../lib/handlers/heartbeat-decode.js';
import { NotifyMessageSchema } from '../../../lib/handlers/notify.js';
import { fixture, sampleEvent, sampleEventNames } from './fixtures.js';

describe('MSK event (aws:kafka)', () => {
  it('parses the golden batch: records keyed by topic-partition, base64 values, CREATE_TIME, header byte arrays', () => {
    const event = MskEventSchema.parse(fixture('msk-heartbeat-batch.json'));

    expect(event.eventSource).toBe('aws:kafka');
    expect(event.eventSourceArn).toMatch(/^arn:aws:kafka:/);
    expect(Object.keys(event.records)).toEqual(['HeartBeat-0', 'HeartBeat-1']);
    const first = MskRecordSchema.parse(event.records['HeartBeat-0']?.[0]);
    expect(first).toMatchObject({ topic: 'HeartBeat', partition: 0, offset: 48211, timestampType: 'CREATE_TIME' });
    expect(JSON.parse(Buffer.from(first.value ?? '', 'base64').toString('utf8'))).toMatchObject({
      resource: 'Thing',
      instanceId: '0',
    });
    expect(Buffer.from(first.headers?.[0]?.['content-type'] ?? []).toString()).toBe('application/json');
  });

  it('flattens a batch into records that keep their topic, partition, offset and timestamp', () => {
    const { valid: records, invalid } = readMskRecords(MskEventSchema.parse(fixture('msk-heartbeat-batch.json')), 10);

    expect(invalid).toBe(0);
    expect(records.map((record) => `${record.topic}-${record.partition}@${record.offset}`)).toEqual([
      'HeartBeat-0@48211',
      'HeartBeat-0@48212',
      'HeartBeat-0@48213',
      'HeartBeat-1@30077',
    ]);
    expect(records[1]?.timestamp).toBe(1715674927000);
  });

  it('sets apart a record of the wrong shape, with its position, instead of rejecting the batch', () => {
    const { valid, invalid, logged } = readMskRecords(MskEventSchema.parse(fixture('msk-heartbeat-poison.json')), 10);

    expect(valid).toHaveLength(6);
    expect(invalid).toBe(1);
    expect(logged).toMatchObject([
      { record: 'HeartBeat-zero@50006', field: 'partition', reason: expect.stringContaining('partition') },
    ]);
  });

  it('rejects an event that is not a Kafka batch', () => {
    const result = MskEventSchema.safeParse({ Records: [{ eventSource: 'aws:sqs' }] });

    expect(result.success).toBe(false);
  });
});

describe('HTTP API event (payload 2.0)', () => {
  it.each([
    ['http-api-v2-get-locate-iam.json', 'GET', false],
    ['http-api-v2-post-orchestrate-empty-body.json', 'POST', false],
    ['http-api-v2-post-orchestrate-base64.json', 'POST', true],
    ['http-api-v2-delete-resources-jwt.json', 'DELETE', false],
  ])('parses %s', (name, method, base64) => {
    const event = HttpApiEventSchema.parse(fixture(name));

    expect(event.version).toBe('2.0');
    expect(event.requestContext.http.method).toBe(method);
    expect(event.requestContext.http.path).toBe(event.rawPath);
    expect(event.routeKey).toMatch(/^(GET|POST|DELETE) \/v1\/api\/orchestrations\/\{resource\}/);
    expect(event.isBase64Encoded).toBe(base64);
    expect(event.requestContext.requestId).not.toBe('');
  });

  it('defaults the optional parts the legacy console leaves out (query string, headers, base64 flag)', () => {
    const minimal = {
      version: '2.0',
      routeKey: 'GET /v1/api/health',
      rawPath: '/v1/api/health',
      requestContext: { requestId: 'r-1', http: { method: 'GET', path: '/v1/api/health' } },
    };

    expect(HttpApiEventSchema.parse(minimal)).toMatchObject({
      rawQueryString: '',
      headers: {},
      isBase64Encoded: false,
    });
  });

  it('rejects a REST API (payload 1.0) event, naming the missing fields', () => {
    const result = HttpApiEventSchema.safeParse({
      httpMethod: 'GET',
      path: '/v1/api/health',
      requestContext: { requestId: 'r' },
    });

    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual(
      expect.arrayContaining(['version', 'rawPath', 'requestContext.http']),
    );
  });
});

describe('EventBridge scheduled event', () => {
  it('parses the golden schedule tick', () => {
    const event = ScheduledEventSchema.parse(fixture('eventbridge-scheduled.json'));

    expect(event['detail-type']).toBe('Scheduled Event');
    expect(event.source).toBe('aws.events');
    expect(event.resources[0]).toMatch(/^arn:aws:events:.*:rule\//);
  });

  it('rejects an event of another source', () => {
    const result = ScheduledEventSchema.safeParse({
      ...fixture<Record<string, unknown>>('eventbridge-scheduled.json'),
      source: 'aws.s3',
    });

    expect(result.success).toBe(false);
  });
});

describe('SQS event (aws:sqs)', () => {
  it('parses the sample batch: one record per cm/notify message, the message JSON as its body', () => {
    const event = SqsEventSchema.parse(sampleEvent('notify-sqs-batch.json'));

    expect(event.Records.map((record) => record.eventSource)).toEqual(['aws:sqs', 'aws:sqs', 'aws:sqs', 'aws:sqs']);
    expect(NotifyMessageSchema.parse(JSON.parse(event.Records[0]!.body))).toMatchObject({ o: 'c', t: 'Thing' });
    expect(event.Records[0]).toMatchObject({ attributes: { ApproximateReceiveCount: '1' } });
  });

  it('rejects a Kafka batch and a record without its messageId', () => {
    expect(SqsEventSchema.safeParse(fixture('msk-heartbeat-batch.json')).success).toBe(false);
    expect(SqsEventSchema.safeParse({ Records: [{ body: '{}', eventSource: 'aws:sqs' }] }).success).toBe(false);
  });
});

describe('sample events for sls invoke local', () => {
  const schemaFor = (name: string) =>
    name.startsWith('notify-sqs-')
      ? SqsEventSchema
      : name.startsWith('notify-')
        ? NotifyMessageSchema
        : name.startsWith('api-')
          ? HttpApiEventSchema
          : name.startsWith('heartbeat-')
            ? MskEventSchema
            : ScheduledEventSchema;

  it.each(sampleEventNames())('%s has the shape its function parses', (name) => {
    const result = schemaFor(name).safeParse(sampleEvent(name));

    expect(result.error?.issues ?? []).toEqual([]);
  });

  it('covers every cm/notify message kind and every API route', () => {
    const names = sampleEventNames();

    for (const expected of [
      'notify-create-thing.json',
      'notify-update-thing.json',
      'notify-delete-thing.json',
      'notify-bulk-create-things.json',
      'notify-bulk-update-things.json',
      'notify-bulk-delete-things.json',
      'notify-trigger-layout.json',
      'notify-ignored-table.json',
      'notify-sqs-batch.json',
      'api-get-orchestration.json',
      'api-orchestrate.json',
      'api-locate.json',
      'api-add-resources.json',
      'api-remove-resources.json',
      'api-health.json',
      'api-dashboard.json',
      'heartbeat-msk.json',
      'reconcile.json',
    ]) {
      expect(names).toContain(expected);
    }
  });
});
