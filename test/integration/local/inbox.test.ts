/**
 * The embedded broker's durable inbox, piece by piece, on real SQLite files:
 * the broker acknowledges a message only once it is in the file, and the
 * consumer applies the file in order, removing entries only once applied,
 * retrying what failed, and stopping within its drain time. The consumer
 * runs on timers only, so its tests use a fake clock. The whole chain across
 * kill -9 and SIGTERM is in durable-inbox.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startEmbeddedBroker } from '../../../lib/local/broker.js';
import { LocalConfigError, localConfigFromEnv } from '../../../lib/local/config.js';
import { Inbox, InboxConsumer, type InboxEntry } from '../../../lib/local/inbox.js';

let dataDir: string;
const opened: Inbox[] = [];
const open = (): Inbox => {
  const inbox = Inbox.open(dataDir);
  opened.push(inbox);
  return inbox;
};

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'iota-inbox-'));
});
afterEach(() => {
  vi.useRealTimers();
  for (const inbox of opened.splice(0)) inbox.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const payloads = (entries: readonly InboxEntry[]): string[] => entries.map((entry) => entry.payload.toString());

describe('the embedded broker with an inbox', () => {
  it('acknowledges a QoS 1 message only once another connection to the file can read it', async () => {
    const inbox = open();
    const broker = await startEmbeddedBroker(0, { durable: { inbox, topics: new Set(['cm/notify']) } });
    const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      const reader = open();
      await publisher.publishAsync('cm/notify', '{"o":"c","t":"Thing","k":{"id":"t1"}}', { qos: 1 });
      expect(payloads(reader.oldest(10))).toEqual(['{"o":"c","t":"Thing","k":{"id":"t1"}}']);

      await publisher.publishAsync('elsewhere', 'not for the orchestrator', { qos: 1 });
      expect(reader.size).toBe(1);
    } finally {
      await publisher.endAsync(true);
      await broker.close();
    }
  });

  it('refuses, without a PUBACK, a message the inbox cannot write', async () => {
    const inbox = open();
    const broker = await startEmbeddedBroker(0, { durable: { inbox, topics: new Set(['cm/notify']) } });
    const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      inbox.close();
      let acknowledged = false;
      const closed = new Promise<void>((resolve) => publisher.once('close', () => resolve()));
      publisher.publish('cm/notify', '{"o":"c","t":"Thing","k":{"id":"t1"}}', { qos: 1 }, (error) => {
        acknowledged ||= !error;
      });
      // The broker drops the connection; a PUBACK would have come before.
      await closed;
      expect(acknowledged).toBe(false);
    } finally {
      await publisher.endAsync(true);
      await broker.close();
    }
  });

  it('takes no connection once closed', async () => {
    const broker = await startEmbeddedBroker(0, { durable: { inbox: open(), topics: new Set(['cm/notify']) } });
    await broker.close();

    await expect(mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 2000 })).rejects.toThrow();
  });
});

/** Appends messages and lets the fake clock run the group commit. */
async function append(inbox: Inbox, topic: string, ...messages: string[]): Promise<void> {
  for (const message of messages) inbox.append(topic, Buffer.from(message), () => undefined);
  await vi.advanceTimersByTimeAsync(0);
}

/** An apply that records what it was given and takes `ms` on the fake clock. */
function recordingApply(ms = 0, failing: (entry: InboxEntry) => boolean = () => false) {
  const calls: string[][] = [];
  const apply = async (entries: readonly InboxEntry[]): Promise<InboxEntry[]> => {
    calls.push(payloads(entries));
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    return entries.filter(failing);
  };
  return { apply, calls };
}

describe('the inbox consumer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  it('applies what the last run left first, in order, page by page, and removes only what was applied', async () => {
    const lastRun = open();
    await append(lastRun, 'cm/notify', 'a', 'b', 'c', 'd', 'e');
    lastRun.close();
    const inbox = open();
    const { apply, calls } = recordingApply(1000);

    const consumer = new InboxConsumer({ inbox, apply, pageSize: 2 });
    await append(inbox, 'cm/notify', 'f');
    await vi.advanceTimersByTimeAsync(500);
    // The first page is being applied: nothing is removed yet.
    expect(inbox.size).toBe(6);
    await vi.advanceTimersByTimeAsync(600);
    expect(payloads(inbox.oldest(10))).toEqual(['c', 'd', 'e', 'f']);
    await vi.advanceTimersByTimeAsync(2000);

    expect(calls).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
    ]);
    expect(inbox.size).toBe(0);
    await consumer.stop();
  });

  it('retries what failed, alone, keeps it and everything after it in the inbox meanwhile, then goes on', async () => {
    const inbox = open();
    let storeDown = true;
    const { apply, calls } = recordingApply(0, (entry) => storeDown && entry.payload.toString() === 'b');
    const retries: number[] = [];

    const consumer = new InboxConsumer({
      inbox,
      apply,
      pageSize: 2,
      retryDelayMs: () => 1000,
      onRetry: (_left, attempt) => retries.push(attempt),
    });
    await append(inbox, 'cm/notify', 'a', 'b', 'c');
    await vi.advanceTimersByTimeAsync(2500);

    expect(calls).toEqual([['a', 'b'], ['b'], ['b']]);
    expect(retries).toEqual([1, 2, 3]);
    expect(payloads(inbox.oldest(10))).toEqual(['a', 'b', 'c']);

    storeDown = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.slice(3)).toEqual([['b'], ['c']]);
    expect(inbox.size).toBe(0);
    await consumer.stop();
  });

  it('lets an idle heartbeat wait its gathering time for company, while cm/notify goes at once', async () => {
    const inbox = open();
    const { apply, calls } = recordingApply();
    const consumer = new InboxConsumer({
      inbox,
      apply,
      gatherMs: (topic) => (topic === 'HeartBeat' ? 200 : 0),
    });

    await append(inbox, 'HeartBeat', 'beat-1');
    await append(inbox, 'HeartBeat', 'beat-2');
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toEqual([['beat-1', 'beat-2']]);

    await append(inbox, 'HeartBeat', 'beat-3');
    await append(inbox, 'cm/notify', 'create');
    expect(calls.slice(1)).toEqual([['beat-3', 'create']]);
    await consumer.stop();
  });

  it('drains until the inbox is empty when there is time', async () => {
    const inbox = open();
    await append(inbox, 'cm/notify', 'a', 'b', 'c');
    const consumer = new InboxConsumer({ inbox, ...recordingApply(100), pageSize: 1 });

    const drained = consumer.drain(10_000);
    await vi.advanceTimersByTimeAsync(300);

    expect(await drained).toEqual({ applied: 3, left: 0 });
  });

  it('stops draining at its deadline, finishing the page in progress, and leaves the rest on disk', async () => {
    const inbox = open();
    await append(inbox, 'cm/notify', 'a', 'b', 'c', 'd', 'e');
    const consumer = new InboxConsumer({ inbox, ...recordingApply(1000), pageSize: 1 });

    const drained = consumer.drain(2500);
    await vi.advanceTimersByTimeAsync(3000);

    expect(await drained).toEqual({ applied: 3, left: 2 });
    expect(payloads(inbox.oldest(10))).toEqual(['d', 'e']);
  });

  it('stops a retry pause at the drain deadline without removing what failed', async () => {
    const inbox = open();
    await append(inbox, 'cm/notify', 'a');
    const consumer = new InboxConsumer({ inbox, ...recordingApply(0, () => true), retryDelayMs: () => 60_000 });

    const drained = consumer.drain(1000);
    await vi.advanceTimersByTimeAsync(1000);

    expect(await drained).toEqual({ applied: 0, left: 1 });
  });
});

describe('INBOX_DRAIN_SECONDS', () => {
  it('is 10 s unless set, and names itself when malformed', () => {
    expect(localConfigFromEnv({}, false).inboxDrainMs).toBe(10_000);
    expect(localConfigFromEnv({ INBOX_DRAIN_SECONDS: '2.5' }, false).inboxDrainMs).toBe(2500);
    expect(() => localConfigFromEnv({ INBOX_DRAIN_SECONDS: 'soon' }, false)).toThrow(LocalConfigError);
    expect(() => localConfigFromEnv({ INBOX_DRAIN_SECONDS: '-1' }, false)).toThrow(/INBOX_DRAIN_SECONDS/);
  });
});
