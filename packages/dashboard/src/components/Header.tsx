/** The top bar: what this is, which server, the connection pill and the pause button. */
import { formatAgo, formatDuration } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { ConnectionStatus } from './ConnectionStatus.js';
import { PauseButton } from './PauseButton.js';

export function Header() {
  const node = useDashboard((s) => s.view.node);
  const server = useDashboard((s) => s.connection.server);
  const serverT = useDashboard((s) => s.view.t);
  const receivedAt = useDashboard((s) => s.view.receivedAt);
  const ready = useDashboard((s) => s.view.ready);
  const clock = useDashboard((s) => (s.paused ? s.paused.since : s.now));
  const uptime = node && ready ? (serverT + (clock - receivedAt) - node.startedAt) / 1000 : null;
  return (
    <header className="topbar">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true">
          ESS
        </span>
        <h1>Event Streaming Service</h1>
      </div>
      <div className="topbar-info" data-testid="server-info">
        {node ? (
          <>
            <span title="ESS node">
              node <b>{node.id}</b>
            </span>
            <span>v{node.version}</span>
            <span title="Node uptime">up {formatDuration(uptime)}</span>
          </>
        ) : server ? (
          <span>
            server <b>{server.id}</b> v{server.version}
          </span>
        ) : null}
        {ready && (
          <span className="muted" data-testid="last-update" title="Time since the data on screen was received">
            updated {formatAgo(clock - receivedAt)}
          </span>
        )}
      </div>
      <div className="topbar-actions">
        <ConnectionStatus />
        <PauseButton />
      </div>
    </header>
  );
}
