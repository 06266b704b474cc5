import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react';

/**
 * History-API routing: the URL is the state of every view, so any view can be shared as a link.
 * Routes: / (zoo), /model/NAME?layer=L, /rf/NAME?layer=L, /memory?a=&b=, /concepts[/ID], /spec.
 * The lab server (src/cli/lab.ts) answers these paths with index.html.
 */

const NAVIGATE = 'lab:navigate';

function subscribe(notify: () => void): () => void {
  window.addEventListener('popstate', notify);
  window.addEventListener(NAVIGATE, notify);
  return () => {
    window.removeEventListener('popstate', notify);
    window.removeEventListener(NAVIGATE, notify);
  };
}

const snapshot = (): string => window.location.pathname + window.location.search;

export interface Route {
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
  readonly href: string;
}

export function useRoute(): Route {
  const href = useSyncExternalStore(subscribe, snapshot);
  const url = new URL(href, window.location.origin);
  const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  return { segments, query: url.searchParams, href };
}

export function navigate(href: string, options: { replace?: boolean } = {}): void {
  if (href === snapshot()) return;
  if (options.replace) window.history.replaceState(null, '', href);
  else window.history.pushState(null, '', href);
  window.dispatchEvent(new Event(NAVIGATE));
  if (!options.replace) window.scrollTo(0, 0);
}

/** Commas are safe in a query; leaving them unescaped keeps shared links readable (compare=a,b). */
const readable = (query: string): string => query.replace(/%2C/gi, ',');

/** Build a path with a query, dropping empty values. */
export function hrefOf(path: string, query: Record<string, string | number | undefined | null> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = readable(q.toString());
  return s ? `${path}?${s}` : path;
}

/** Change some query parameters of the current URL without a new history entry. */
export function setQuery(changes: Record<string, string | number | undefined | null>): void {
  const url = new URL(window.location.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '') url.searchParams.delete(k);
    else url.searchParams.set(k, String(v));
  }
  navigate(url.pathname + readable(url.search), { replace: true });
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const follow = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={follow} {...rest} />;
}
