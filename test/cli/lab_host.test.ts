import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostAllowed, type LabServer, startLabServer } from '../../src/cli/lab.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/**
 * Issue #18 case 5: the lab answers only requests whose Host header names the loopback address it
 * listens on, so a page of another site cannot reach it through DNS rebinding.
 */

let base: string;
let server: LabServer;

beforeAll(async () => {
  base = makeTempDir('lab-host');
  writeFileSync(join(base, 'index.html'), '<!doctype html><title>lab</title>');
  server = await startLabServer({ port: 0, root: base });
});

afterAll(async () => {
  await server.close();
  removeTempDir(base);
});

/** GET / with the Host header as given (undefined: none at all). */
function getWithHost(host: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        path: '/',
        setHost: host !== undefined,
        headers: host ? { Host: host } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('lab Host header check', () => {
  it('serves 127.0.0.1:PORT and localhost:PORT', async () => {
    expect((await getWithHost(`127.0.0.1:${server.port}`)).status).toBe(200);
    expect((await getWithHost(`localhost:${server.port}`)).status).toBe(200);
  });

  it('refuses any other Host with 421', async () => {
    for (const host of [
      'evil.example.com',
      `evil.example.com:${server.port}`,
      '127.0.0.1',
      `127.0.0.1:${server.port + 1}`,
      `localhost.evil.example.com:${server.port}`,
      `[::1]:${server.port}`,
    ]) {
      const reply = await getWithHost(host);
      expect(reply.status, host).toBe(421);
      expect(reply.body).not.toContain('<title>lab</title>');
    }
  });

  it('refuses a request without a Host header (node answers 400 itself)', async () => {
    expect([400, 421]).toContain((await getWithHost(undefined)).status);
  });

  it('hostAllowed compares the whole header', () => {
    expect(hostAllowed('127.0.0.1:5178', 5178)).toBe(true);
    expect(hostAllowed('localhost:5178', 5178)).toBe(true);
    expect(hostAllowed('LOCALHOST:5178', 5178)).toBe(true);
    expect(hostAllowed('localhost:51780', 5178)).toBe(false);
    expect(hostAllowed(undefined, 5178)).toBe(false);
  });
});
