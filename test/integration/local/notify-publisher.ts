/**
 * A cm/notify publisher in a process of its own, for the durable inbox test:
 * publishes COUNT QoS 1 creates of Things `<PREFIX>-<n>` to MQTT_URL, at most
 * WINDOW unacknowledged at a time, and prints `ack <id>` for each PUBACK.
 * When the broker goes away it reconnects, and mqtt.js sends again what was
 * not acknowledged; it exits 0 once every message has been acknowledged.
 */
import mqtt from 'mqtt';

const url = process.env.MQTT_URL!;
const prefix = process.env.PREFIX!;
const count = Number(process.env.COUNT);
const window = Number(process.env.WINDOW ?? 100);

const client = mqtt.connect(url, { clean: true, reconnectPeriod: 100, connectTimeout: 2000 });
// Connection refused while the orchestrator restarts: mqtt.js retries by itself. A CONNACK refusal is
// different: mqtt.js stops reconnecting, so it is said.
client.on('error', (error) => {
  if ('code' in error && typeof error.code === 'number')
    process.stderr.write(`publisher ${prefix}: ${error.message}\n`);
});

const waiting = Array.from({ length: count }, (_, n) => `${prefix}-${n}`).reverse();
let inFlight = 0;
// A resent message may be acknowledged twice: count ids, not callbacks.
const acknowledged = new Set<string>();
// Ended before every message was acknowledged (mqtt.js gave up, nothing left to wait for): never a success.
process.on('exit', () => {
  if (acknowledged.size === count) return;
  process.stderr.write(`publisher ${prefix}: ended with ${acknowledged.size} of ${count} acknowledged\n`);
  process.exitCode = 3;
});

function pump(): void {
  while (inFlight < window && waiting.length > 0) {
    const id = waiting.pop()!;
    inFlight++;
    client.publish('cm/notify', JSON.stringify({ o: 'c', t: 'Thing', k: { id } }), { qos: 1 }, (error) => {
      inFlight--;
      if (acknowledged.has(id)) {
        // Already counted.
      } else if (error) {
        // Never acknowledged (dropped from mqtt.js's queue with the connection): send it again.
        waiting.push(id);
      } else {
        acknowledged.add(id);
        process.stdout.write(`ack ${id}\n`);
      }
      // Exit once stdout has taken every `ack` line: a write still queued on the pipe would be lost.
      if (acknowledged.size === count) client.end(true, {}, () => process.stdout.write('', () => process.exit(0)));
      // Not from within the callback: mqtt.js fails its queue with a loop that would meet what pump() adds to it.
      else setImmediate(pump);
    });
  }
}

client.on('connect', pump);
