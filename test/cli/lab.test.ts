import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabServer, lab, pathSegments, startLabServer } from '../../src/cli/lab.js';
import { ConvlabError } from '../../src/ir/errors.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/**
 * The lab's server must hand out the built app and nothing else. A fixture build directory sits
 * next to a secret file and a secret directory; every way of naming them through the server must
 * be a 404, whatever the encoding.
 */

const SECRET = 'top secret: outside the build';
let base: string;
let server: LabServer;

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A raw request: node's http client sends the path exactly as given, without normalising it. */
function get(path: string, method = 'GET', host = '127.0.0.1', port = server.port): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: res.headers['content-type'],
          body,
          headers: res.headers,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  base = makeTempDir('lab-server');
  const site = join(base, 'site');
  mkdirSync(join(site, 'assets'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(site, 'assets', 'app-1234.js'), 'console.log(1)');
  writeFileSync(join(site, 'assets', 'style-1234.css'), 'body{}');
  writeFileSync(join(site, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(site, '.env'), SECRET);
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside', 'secret.txt'), SECRET);
  writeFileSync(join(base, 'secret.txt'), SECRET);
  // Links that point out of the build: a file and a directory.
  symlinkSync(join(base, 'secret.txt'), join(site, 'leak.txt'));
  symlinkSync(join(base, 'outside'), join(site, 'assets', 'outside'));
  // A link that stays inside is fine.
  symlinkSync(join(site, 'favicon.svg'), join(site, 'icon.svg'));
  server = await startLabServer({ port: 0, root: site });
});

afterAll(async () => {
  await server?.close();
  removeTempDir(base);
});

describe('convlab lab server', () => {
  it('listens on 127.0.0.1 only and reports its URL', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.port).toBeGreaterThan(0);
  });

  it('cannot be reached on any other address', async () => {
    const others = [
      '::1',
      ...Object.values(networkInterfaces())
        .flat()
        .filter((i) => i && !i.internal)
        .map((i) => i!.address),
    ];
    for (const host of others) {
      const reached = await new Promise<boolean>((resolve) => {
        const socket = connect({ host, port: server.port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      expect(reached, `reached the lab on ${host}`).toBe(false);
    }
  });

  it('serves the built files with their content types', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.type).toBe('text/html; charset=utf-8');
    expect(index.body).toContain('id="root"');
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect((await get('/assets/app-1234.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await get('/assets/style-1234.css')).type).toBe('text/css; charset=utf-8');
    expect((await get('/favicon.svg')).type).toBe('image/svg+xml');
    expect((await get('/icon.svg')).status).toBe(200);
    expect((await get('/assets/app-1234.js')).headers['cache-control']).toContain('immutable');
  });

  it("answers the app's routes with index.html, so shared links open their view", async () => {
    for (const path of [
      '/model/resnet50',
      '/model/resnet50?layer=layer3',
      '/rf/vgg16?layer=features.30',
      '/memory?a=densenet121&b=resnet50',
      '/concepts',
      '/concepts/spp',
      '/spec',
      '/zoo',
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(200);
      expect(r.body, path).toContain('id="root"');
    }
  });

  it('answers 404 for anything that is not a built file or an app route', async () => {
    for (const path of [
      '/nope.js',
      '/assets/nope.js',
      '/favicon.ico',
      '/package.json',
      '/model/resnet50/extra/deep',
      '/unknown/route',
      '/.env',
      '/assets/.hidden',
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain(SECRET);
    }
  });

  it('never serves anything outside the build directory, however the path is spelled', async () => {
    const attempts = [
      '/../secret.txt',
      '/../outside/secret.txt',
      '/assets/../../secret.txt',
      '/assets/../../../../../../etc/passwd',
      '/%2e%2e/secret.txt',
      '/%2E%2E/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%252e%252e/secret.txt',
      '/.%2e/secret.txt',
      '/assets/..\\..\\secret.txt',
      '//etc/passwd',
      '/etc/passwd',
      `/${base.slice(1)}/secret.txt`,
      `/%2F${base.slice(1)}/secret.txt`,
      'http://127.0.0.1/../secret.txt',
      '/index.html%00.js',
      '/%c0%ae%c0%ae/secret.txt',
      '/leak.txt',
      '/assets/outside/secret.txt',
      '/model/..%2f..%2fsecret.txt',
      '/model/../../secret.txt',
    ];
    for (const path of attempts) {
      const r = await get(path);
      expect(r.body, path).not.toContain(SECRET);
      expect(r.body, path).not.toContain('root:');
      expect(r.status, path).toBe(404);
    }
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await get('/', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    for (const method of ['POST', 'PUT', 'DELETE']) expect((await get('/', method)).status).toBe(405);
  });

  it('reports a busy port clearly', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      await expect(startLabServer({ port, root: join(base, 'site') })).rejects.toThrow(
        new ConvlabError(
          `port ${port} on 127.0.0.1 is in use; choose another with --port P, or --port 0 for any free port`,
          1,
        ),
      );
    } finally {
      blocker.close();
    }
  });

  it('says how to build the lab when it is not built', async () => {
    await expect(startLabServer({ port: 0, root: join(base, 'outside') })).rejects.toThrow(/not built/);
  });

  it('rejects a bad --port with a usage error', async () => {
    const io = { stdout: () => {}, stderr: () => {} };
    await expect(lab.run([], { port: 'http' }, io)).rejects.toThrow(/--port must be an integer/);
    await expect(lab.run([], { port: '70000' }, io)).rejects.toThrow(/--port must be an integer/);
  });

  it('splits request paths into safe segments only', () => {
    expect(pathSegments('/assets/app.js?x=1')).toEqual(['assets', 'app.js']);
    expect(pathSegments('/')).toEqual([]);
    expect(pathSegments('/%2e%2e/x')).toBeNull();
    expect(pathSegments('//x')).toBeNull();
    expect(pathSegments('x')).toBeNull();
    expect(pathSegments('/%E0%A4%A')).toBeNull();
  });
});
