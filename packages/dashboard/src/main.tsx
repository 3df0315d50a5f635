/** Entry point: one store, one monitor connection to the page's own origin, one React root. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MONITOR_PATH } from '@ess/protocol';
import { App } from './App.js';
import { MonitorConnection } from './connection/MonitorConnection.js';
import { clearToken, monitorUrl, takeToken } from './connection/token.js';
import { createDashboardStore } from './store/DashboardStore.js';
import { DashboardProvider } from './store/react.js';
import './styles.css';

const store = createDashboardStore();
const connection = new MonitorConnection({
  url: monitorUrl(window.location, MONITOR_PATH),
  store,
  token: takeToken(),
  onTokenRejected: () => clearToken(),
});
connection.start();
window.addEventListener('online', () => connection.nudge());

// For operators' consoles and end-to-end tests: the live store and connection.
(window as unknown as { essDashboard: unknown }).essDashboard = { store, connection };

const root = document.getElementById('root');
if (!root) throw new Error('#root missing from index.html');
createRoot(root).render(
  <StrictMode>
    <DashboardProvider store={store} connection={connection}>
      <App />
    </DashboardProvider>
  </StrictMode>,
);
