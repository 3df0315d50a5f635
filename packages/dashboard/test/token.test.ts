import { describe, expect, test, vi } from 'vitest';
import { TOKEN_STORAGE_KEY, clearToken, monitorUrl, saveToken, takeToken, type TokenEnv } from '../src/connection/token.js';

function env(href: string) {
  const store = new Map<string, string>();
  const replaceState = vi.fn();
  const e: TokenEnv = {
    location: { href },
    history: { replaceState, state: null },
    storage: {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
      removeItem: (k) => void store.delete(k),
    },
  };
  return { e, store, replaceState };
}

describe('monitor token', () => {
  test('taken from ?token=, kept in sessionStorage and stripped from the address bar', () => {
    const { e, store, replaceState } = env('https://ess.example/dash/?view=x&token=abc123#top');
    expect(takeToken(e)).toBe('abc123');
    expect(store.get(TOKEN_STORAGE_KEY)).toBe('abc123');
    expect(replaceState).toHaveBeenCalledWith(null, '', '/dash/?view=x#top');
  });

  test('afterwards it comes from sessionStorage', () => {
    const { e, store } = env('https://ess.example/');
    expect(takeToken(e)).toBeNull();
    store.set(TOKEN_STORAGE_KEY, 'kept');
    expect(takeToken(e)).toBe('kept');
  });

  test('save and clear', () => {
    const { e, store } = env('https://ess.example/');
    saveToken('t', e);
    expect(store.get(TOKEN_STORAGE_KEY)).toBe('t');
    clearToken(e);
    expect(store.has(TOKEN_STORAGE_KEY)).toBe(false);
  });

  test('the monitor URL follows the page origin and scheme', () => {
    expect(monitorUrl({ protocol: 'https:', host: 'ess.cern.ch' }, '/v1/monitor')).toBe('wss://ess.cern.ch/v1/monitor');
    expect(monitorUrl({ protocol: 'http:', host: 'localhost:8080' }, '/v1/monitor')).toBe('ws://localhost:8080/v1/monitor');
  });
});
