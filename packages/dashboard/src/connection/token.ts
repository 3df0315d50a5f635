/**
 * Where the monitor token lives: taken once from the page URL (`?token=...`), then kept in
 * sessionStorage and removed from the address bar so it is not bookmarked, shared or logged.
 */

export const TOKEN_STORAGE_KEY = 'ess.monitor.token';
const QUERY_KEY = 'token';

export interface TokenEnv {
  readonly location: Pick<Location, 'href'>;
  readonly history: Pick<History, 'replaceState' | 'state'> | null;
  readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
}

function browserEnv(): TokenEnv {
  let storage: Storage | null = null;
  try {
    storage = window.sessionStorage;
  } catch {
    // Storage can be disabled (privacy settings); the token then lives only in memory.
  }
  return { location: window.location, history: window.history, storage };
}

/** The token from the URL (saved, then stripped from the URL) or from sessionStorage, or null. */
export function takeToken(env: TokenEnv = browserEnv()): string | null {
  const url = new URL(env.location.href);
  const fromUrl = url.searchParams.get(QUERY_KEY);
  if (fromUrl !== null) {
    url.searchParams.delete(QUERY_KEY);
    env.history?.replaceState(env.history.state, '', url.pathname + url.search + url.hash);
    if (fromUrl !== '') {
      saveToken(fromUrl, env);
      return fromUrl;
    }
  }
  try {
    return env.storage?.getItem(TOKEN_STORAGE_KEY) || null;
  } catch {
    return null;
  }
}

export function saveToken(token: string, env: TokenEnv = browserEnv()): void {
  try {
    env.storage?.setItem(TOKEN_STORAGE_KEY, token);
  } catch {
    // see browserEnv
  }
}

export function clearToken(env: TokenEnv = browserEnv()): void {
  try {
    env.storage?.removeItem(TOKEN_STORAGE_KEY);
  } catch {
    // see browserEnv
  }
}

/** `ws(s)://host/v1/monitor` for a page served over http(s) from the same origin. */
export function monitorUrl(location: Pick<Location, 'protocol' | 'host'>, path: string): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}
