import { existsSync } from 'node:fs';
import { lstat, readFile, realpath } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConvlabError } from '../ir/errors.js';
import type { Command } from './command.js';
import { json } from './format.js';

/**
 * `convlab lab`: a static file server for the built web app and nothing else. It binds 127.0.0.1
 * only, answers GET and HEAD, and serves a file only when the request path names a regular file
 * inside the build directory, after every symlink is resolved; any other path is a 404, except the
 * app's own routes (`/model/resnet50`), which get index.html so a shared link opens its view.
 */

export const LAB_HOST = '127.0.0.1';
/** Used when `--port` is not given; if it is taken the lab falls back to any free port. */
export const LAB_DEFAULT_PORT = 5178;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** First path segments of the app's client-side routes (web/src/router.ts). */
const APP_ROUTES = new Set(['zoo', 'model', 'rf', 'memory', 'concepts', 'spec']);
/** A route segment: a model, layer or concept name. No leading dot, so never `.` or `..`. */
const ROUTE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** A path segment of a built file: the same, which also rules out dotfiles. */
const FILE_SEGMENT = ROUTE_SEGMENT;

/** Where the build of web/ lands (vite's outDir in web/vite.config.ts), for dist/ and for src/ under tsx. */
export function defaultLabRoot(): string {
  const candidates = [
    fileURLToPath(new URL('../web/', import.meta.url)),
    fileURLToPath(new URL('../../dist/web/', import.meta.url)),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!;
}

/** The raw request path split into decoded segments, or null if it could name anything outside the root. */
export function pathSegments(url: string): string[] | null {
  const raw = url.split(/[?#]/, 1)[0]!;
  // Absolute-form targets (`http://host/x`) and protocol-relative ones (`//x`) are not ours to serve.
  if (!raw.startsWith('/') || raw.startsWith('//')) return null;
  const segments: string[] = [];
  for (const part of raw.slice(1).split('/')) {
    if (part === '') continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      return null;
    }
    // Checked after decoding, so %2e%2e, %2f and %5c cannot smuggle `..` or a separator through.
    if (!FILE_SEGMENT.test(decoded)) return null;
    segments.push(decoded);
  }
  return segments;
}

/**
 * Whether a request's Host header names the loopback address the lab listens on. Any other name
 * (`evil.example.com` resolving to 127.0.0.1) is a page of another site reaching the lab through
 * DNS rebinding, and is refused with 421 before any path is looked at.
 */
export function hostAllowed(host: string | undefined, port: number): boolean {
  const name = host?.toLowerCase(); // host names are case-insensitive
  return name === `${LAB_HOST}:${port}` || name === `localhost:${port}`;
}

const isAppRoute = (segments: readonly string[]): boolean =>
  segments.length === 0 ||
  (segments.length <= 3 && APP_ROUTES.has(segments[0]!) && segments.every((s) => ROUTE_SEGMENT.test(s)));

/** A regular file under `root` (both real paths), or null. */
async function fileInside(root: string, segments: readonly string[]): Promise<string | null> {
  if (segments.length === 0) return null;
  try {
    const real = await realpath(join(root, ...segments));
    if (!real.startsWith(root + sep)) return null;
    return (await lstat(real)).isFile() ? real : null;
  } catch {
    return null;
  }
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
} as const;

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: Buffer,
) {
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'Content-Length': String(body.length) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const notFound = (req: IncomingMessage, res: ServerResponse) =>
  send(req, res, 404, { 'Content-Type': 'text/plain; charset=utf-8' }, Buffer.from('not found\n'));

export interface LabServer {
  readonly url: string;
  readonly port: number;
  readonly root: string;
  close(): Promise<void>;
}

export interface LabOptions {
  /** 0 asks the OS for a free port. */
  readonly port: number;
  /** The built web directory (default: defaultLabRoot()). */
  readonly root?: string;
}

/** Start the lab's server on 127.0.0.1. Rejects with a ConvlabError if the build is missing or the port is taken. */
export async function startLabServer(options: LabOptions): Promise<LabServer> {
  const dir = options.root ?? defaultLabRoot();
  if (!existsSync(join(dir, 'index.html'))) {
    throw new ConvlabError(
      `the lab is not built (no ${join(dir, 'index.html')}); run 'npm run build' (or 'npm ci') first`,
      1,
    );
  }
  const root = await realpath(dir);
  let port = 0; // known once listening, before the first request
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hostAllowed(req.headers.host, port)) {
      const body = `misdirected request: this lab answers only http://${LAB_HOST}:${port}/ and http://localhost:${port}/\n`;
      send(req, res, 421, { 'Content-Type': 'text/plain; charset=utf-8' }, Buffer.from(body));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(
        req,
        res,
        405,
        { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' },
        Buffer.from('method not allowed\n'),
      );
      return;
    }
    const segments = pathSegments(req.url ?? '');
    if (!segments) return notFound(req, res);
    const file = await fileInside(root, segments);
    if (file) {
      const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
      // Vite names bundles by content hash, so they never change; index.html must always be fresh.
      const cache = segments[0] === 'assets' ? 'public, max-age=31536000, immutable' : 'no-cache';
      return send(req, res, 200, { 'Content-Type': type, 'Cache-Control': cache }, await readFile(file));
    }
    if (!isAppRoute(segments)) return notFound(req, res);
    const index = await readFile(join(root, 'index.html'));
    return send(req, res, 200, { 'Content-Type': TYPES['.html']!, 'Cache-Control': 'no-cache' }, index);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(req, res, 500, { 'Content-Type': 'text/plain' }, Buffer.from('error\n'));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') {
        reject(
          new ConvlabError(
            `port ${options.port} on ${LAB_HOST} is in use; choose another with --port P, or --port 0 for any free port`,
            1,
          ),
        );
      } else if (e.code === 'EACCES') {
        reject(new ConvlabError(`no permission to listen on port ${options.port}; use a port above 1023`, 1));
      } else reject(e);
    });
    server.listen(options.port, LAB_HOST, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${LAB_HOST}:${port}/`,
    port,
    root,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function portOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new ConvlabError(`--port must be an integer from 0 to 65535 (0: any free port), got '${value}'`);
  }
  return Number(value);
}

/** Resolves when SIGINT or SIGTERM arrives. */
const interrupted = (): Promise<void> =>
  new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

export const lab: Command = {
  name: 'lab',
  usage: 'convlab lab [--port P] [--json]',
  summary: `serve the lab (the web app) on ${LAB_HOST} only; --port 0 picks a free port`,
  options: { port: { type: 'string' }, json: { type: 'boolean' } },
  positionals: [0, 0],
  async run(_, values, io) {
    const asked = portOption(values['port'] as string | undefined);
    let server: LabServer;
    try {
      server = await startLabServer({ port: asked ?? LAB_DEFAULT_PORT });
    } catch (e) {
      // Only the default port may be swapped silently; a port the user asked for is theirs to change.
      if (asked !== undefined || !(e instanceof ConvlabError) || !e.message.includes('in use')) throw e;
      io.stderr(`convlab lab: port ${LAB_DEFAULT_PORT} is in use; using a free port instead`);
      server = await startLabServer({ port: 0 });
    }
    io.stderr(`convlab lab: serving ${server.root}`);
    io.stderr(`convlab lab: open ${server.url}  (Ctrl-C to stop)`);
    if (values['json']) io.stdout(json({ url: server.url, host: LAB_HOST, port: server.port }));
    await interrupted();
    await server.close();
    return 0;
  },
};
