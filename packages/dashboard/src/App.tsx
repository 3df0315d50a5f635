/**
 * The page: top bar, stale and pause banners, alarms, the overview, then the workers table beside
 * tasks, cache, sources and nodes. Only leaf components subscribe to data, so the shell renders once.
 */
import { useEffect, type ReactNode } from 'react';
import { useDashboard, useDashboardStore } from './store/react.js';
import { Alarms } from './components/Alarms.js';
import { CachePanel } from './components/CachePanel.js';
import { ConnectionBanner } from './components/ConnectionBanner.js';
import { Header } from './components/Header.js';
import { NodesPanel } from './components/NodesPanel.js';
import { Overview } from './components/Overview.js';
import { SourcesPanel } from './components/SourcesPanel.js';
import { TaskView } from './components/TaskView.js';
import { TokenForm } from './components/TokenForm.js';
import { WorkersTable } from './components/WorkersTable.js';

/** Counts how often the shell renders (read by the render-count test: it must not follow the data). */
export const appRenders = { count: 0 };

/** Space toggles pause unless the focus is in a field or on a button (where Space means something else). */
function usePauseShortcut(): void {
  const store = useDashboardStore();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== ' ' || e.repeat || e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target as HTMLElement | null;
      if (t && t.closest('input, textarea, select, button, [contenteditable="true"]')) return;
      e.preventDefault();
      store.togglePause();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);
}

/** Marks the data area when what it shows is not live, so every figure looks its age. */
function DataArea(props: { children: ReactNode }) {
  const state = useDashboard((s) => s.connection.state);
  const ready = useDashboard((s) => s.view.ready);
  const paused = useDashboard((s) => s.paused !== null);
  const stale = ready && state !== 'open';
  return (
    <main className={`content ${stale ? 'is-stale' : ''} ${paused ? 'is-paused' : ''}`} data-testid="dashboard" data-stale={stale} data-paused={paused}>
      {props.children}
    </main>
  );
}

export function App() {
  appRenders.count++;
  usePauseShortcut();
  return (
    <div className="app">
      <div className="top">
        <Header />
        <ConnectionBanner />
        <Alarms />
      </div>
      <DataArea>
        <Overview />
        <div className="columns">
          <WorkersTable />
          <div className="side">
            <TaskView />
            <CachePanel />
            <SourcesPanel />
            <NodesPanel />
          </div>
        </div>
      </DataArea>
      <TokenForm />
    </div>
  );
}
