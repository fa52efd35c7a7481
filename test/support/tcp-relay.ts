/**
 * A TCP relay in front of a server that can go silent: connections stay open
 * but nothing passes, like a connection a NAT forgot while the container slept.
 * Used by the ZooKeeper contract tests and the store-faults bench.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface SilentRelay {
  readonly port: number;
  silence(): void;
  restore(): void;
  close(): Promise<void>;
}

/** A TCP relay to ZooKeeper that can go silent, like a connection a NAT forgot while the container slept. */
export async function startRelay(port: number): Promise<SilentRelay> {
  const sockets = new Set<Socket>();
  let silent = false;
  const server: Server = createServer((downstream) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.on('data', (chunk) => silent || upstream.write(chunk));
    upstream.on('data', (chunk) => silent || downstream.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    silence: () => (silent = true),
    restore: () => (silent = false),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
