/**
 * The embedded MQTT broker (aedes) for running with no external services:
 * cm/notify publishers, the orchestrator and the workers all talk to it on
 * 127.0.0.1 only.
 *
 * Given an inbox, every message on one of its topics is written to it before
 * the broker goes on with the message. aedes runs `authorizePublish` first and
 * writes the PUBACK of a QoS 1 message only once its callback has run (and
 * before it hands the message to any subscriber or persistence:
 * lib/handlers/publish.js, 1.2.0), so calling back after the inbox's write
 * makes every acknowledgement follow the durable copy. aedes reads a client's
 * next socket chunk only once every packet of the last one is through, so a
 * slow disk slows publishers down instead of filling memory.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import type { Inbox } from './inbox.js';

export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  /** Refuses new connections and messages and disconnects every client; idempotent. */
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  readonly host?: string;
  /** Messages on `topics` (any QoS) are written to `inbox` before they are acknowledged. */
  readonly durable?: { readonly inbox: Inbox; readonly topics: ReadonlySet<string> };
}

const SYS_PREFIX = '$SYS/';

export async function startEmbeddedBroker(port: number, options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const durable = options.durable;
  let accepting = true;
  const aedes = await Aedes.createBroker({
    authorizePublish: (_client, packet, callback) => {
      // aedes's own default check, which a custom handler replaces.
      if (packet.topic.startsWith(SYS_PREFIX)) return callback(new Error(`${SYS_PREFIX} topic is reserved`));
      // Refused, the message is not acknowledged: its publisher sends it again to the next start.
      if (!accepting) return callback(new Error('the broker is stopping'));
      if (!durable?.topics.has(packet.topic)) return callback(null);
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      durable.inbox.append(packet.topic, payload, (error) => callback(error ?? null));
    },
  });
  // A client that drops its connection is routine here (workers are killed on purpose).
  aedes.on('clientError', () => undefined);
  aedes.on('connectionError', () => undefined);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `MQTT_PORT ${port} is in use on ${host}: stop the other broker, set MQTT_PORT to a free port, or MQTT_URL to use that broker`,
            )
          : error,
      );
    });
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${host}:${actualPort}`,
    port: actualPort,
    close() {
      closing ??= (async () => {
        accepting = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        await closed;
      })();
      return closing;
    },
  };
}
