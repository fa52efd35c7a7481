/**
 * One redaction for URLs and credentials (lib/redact.ts), and the logger that applies it to every line
 * (lib/log.ts): a password never reaches the output, while the user, host and path stay readable.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.js';
import { redactCredential, redactText, redactUrl } from '../../lib/redact.js';

describe('redactUrl', () => {
  it('hides the password wherever the URL carries it, and keeps the rest', () => {
    expect(redactUrl('postgresql://orch:s3cr3t@db.internal:5432/platform?sslmode=verify-full')).toBe(
      'postgresql://orch:***@db.internal:5432/platform?sslmode=verify-full',
    );
    expect(redactUrl('postgres://orch@db/p?password=s3cr3t&PassWord=x')).toBe(
      'postgres://orch@db/p?password=***&PassWord=***',
    );
    expect(redactUrl('mqtts://device:pa55@broker.example:8883')).toBe('mqtts://device:***@broker.example:8883');
    expect(redactUrl('https://api.example/v1?token=abc&page=2&X-Amz-Signature=f00')).toBe(
      'https://api.example/v1?token=***&page=2&X-Amz-Signature=***',
    );
    expect(redactUrl('postgres://db/p')).toBe('postgres://db/p');
  });

  it('does not echo a value that is no URL: it may be a credential given in the wrong place', () => {
    expect(redactUrl('::s3cr3t::')).toBe('(unparsable URL)');
  });
});

describe('redactText', () => {
  it('hides the credentials of every URL in a text, an unencoded @ in the password included', () => {
    expect(
      redactText('connect to mqtt://dac:pa55@10.0.0.7:1883 failed; fallback postgres://orch:p@ss@db/x?sslmode=require'),
    ).toBe('connect to mqtt://dac:***@10.0.0.7:1883 failed; fallback postgres://orch:***@db/x?sslmode=require');
  });

  it('hides secret query parameters, of a path too, and leaves the others', () => {
    expect(redactText('GET /v1/api/health?access_token=eyJhbGci.x.y&verbose=1')).toBe(
      'GET /v1/api/health?access_token=***&verbose=1',
    );
  });

  it('leaves text without credentials as it is', () => {
    const text = 'zookeeper zk-1:2181,zk-2:2181/iota: session expired; see https://zookeeper.apache.org/doc?page=2';
    expect(redactText(text)).toBe(text);
  });
});

describe('redactCredential', () => {
  it('keeps the user of a digest credential, hides its password (which may contain colons)', () => {
    expect(redactCredential('orchestrator:s3cr:et')).toBe('orchestrator:***');
    expect(redactCredential('s3cret-without-user')).toBe('***');
  });
});

/** A logger writing into an array of parsed lines. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'info', env: {}, destination });
  return { logger, lines: () => chunks.join('').trim().split('\n') };
}

describe('the logger', () => {
  it('redacts credentials in URL fields, config dumps and digest auth, one level down too', () => {
    const { logger, lines } = capturedLogger();

    logger.info({ url: 'mqtt://dac:pa55@broker:1883' }, 'connecting');
    logger.info(
      {
        config: {
          MQTT_URL: 'mqtt://dac:pa55@broker:1883',
          CATALOG_URL: 'postgres://orch@db/p?password=pa55',
          ZK_AUTH: 'orchestrator:pa55',
          KAFKA_SASL_PASSWORD: 'pa55',
        },
        auth: 'orchestrator:pa55',
      },
      'settings',
    );

    const [connecting, settings] = lines().map((line) => JSON.parse(line));
    expect(lines().join('\n')).not.toContain('pa55');
    expect(connecting.url).toBe('mqtt://dac:***@broker:1883');
    expect(settings.config).toEqual({
      MQTT_URL: 'mqtt://dac:***@broker:1883',
      CATALOG_URL: 'postgres://orch@db/p?password=***',
      ZK_AUTH: 'orchestrator:***',
      KAFKA_SASL_PASSWORD: '***',
    });
    expect(settings.auth).toBe('orchestrator:***');
  });

  it("redacts an error's message, stack and fields, and leaves the caller's error as it was", () => {
    const { logger, lines } = capturedLogger();
    const error = Object.assign(new Error('cannot reach postgres://orch:pa55@db:5432/p'), {
      input: 'postgres://orch:pa55@db:5432/p',
    });

    logger.error({ err: error }, 'catalog down');

    const [line] = lines();
    expect(line).not.toContain('pa55');
    expect(JSON.parse(line!).err).toMatchObject({
      type: 'Error',
      message: 'cannot reach postgres://orch:***@db:5432/p',
      stack: expect.stringContaining('cannot reach postgres://orch:***@db:5432/p'),
      input: 'postgres://orch:***@db:5432/p',
    });
    expect(error.message).toBe('cannot reach postgres://orch:pa55@db:5432/p');
    expect(error.input).toBe('postgres://orch:pa55@db:5432/p');
  });
});
