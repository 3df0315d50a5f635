/**
 * React access to the store: a context carrying the store (and the connection, for the token form and
 * retry button) and `useDashboard(selector)`, which re-renders a component only when its selection changes.
 */
import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { DashboardStore } from './DashboardStore.js';
import type { DashboardState } from './types.js';

/** What the UI may ask of the connection. */
export interface ConnectionControl {
  setToken(token: string): void;
  reconnectNow(): void;
}

interface Ctx {
  readonly store: DashboardStore;
  readonly connection: ConnectionControl | null;
}

const DashboardContext = createContext<Ctx | null>(null);

export function DashboardProvider(props: { store: DashboardStore; connection?: ConnectionControl | null; children: ReactNode }) {
  const { store, connection = null } = props;
  const value = useMemo(() => ({ store, connection }), [store, connection]);
  return <DashboardContext.Provider value={value}>{props.children}</DashboardContext.Provider>;
}

function useCtx(): Ctx {
  const ctx = useContext(DashboardContext);
  if (!ctx) throw new Error('DashboardProvider missing');
  return ctx;
}

export function useDashboardStore(): DashboardStore {
  return useCtx().store;
}

export function useConnectionControl(): ConnectionControl | null {
  return useCtx().connection;
}

/** Subscribes to one slice of the state. Return existing objects or primitives from the selector, never new ones. */
export function useDashboard<T>(selector: (s: DashboardState) => T): T {
  return useStore(useCtx().store.api, selector);
}
