/** The pill in the header: is the monitor channel live, connecting, stale or closed. */
import { formatDuration } from '../format/units.js';
import { useConnectionControl, useDashboard } from '../store/react.js';

export function ConnectionStatus() {
  const state = useDashboard((s) => s.connection.state);
  const attempt = useDashboard((s) => s.connection.attempt);
  const retryAt = useDashboard((s) => s.connection.retryAt);
  const needToken = useDashboard((s) => s.connection.needToken);
  const problem = useDashboard((s) => s.connection.problem);
  const lastDataAt = useDashboard((s) => s.connection.lastDataAt);
  const intervalMs = useDashboard((s) => s.view.intervalMs);
  const now = useDashboard((s) => s.now);
  const control = useConnectionControl();

  let text: string;
  switch (state) {
    case 'open':
      text = 'Live';
      break;
    case 'stale':
      text = lastDataAt === null ? 'Stale · no data yet' : `Stale · no data for ${formatDuration((now - lastDataAt) / 1000)}`;
      break;
    case 'connecting':
      text =
        retryAt !== null
          ? `Reconnecting in ${formatDuration(Math.max(0, Math.ceil((retryAt - now) / 1000)))} · attempt ${attempt}`
          : attempt > 0
            ? `Reconnecting · attempt ${attempt}`
            : 'Connecting…';
      break;
    case 'closed':
      text = needToken ? 'Token required' : 'Disconnected';
      break;
  }
  const tip = state === 'open' ? `Monitor channel live; updates every ${intervalMs} ms` : (problem ?? text);
  return (
    <div className="conn" data-testid="connection-status" data-state={state} role="status" aria-live="polite" title={tip}>
      <span className={`conn-dot conn-${state}`} aria-hidden="true" />
      <span className="conn-text">{text}</span>
      {(state === 'connecting' && retryAt !== null) || (state === 'closed' && !needToken) || state === 'stale' ? (
        <button type="button" className="btn btn-small" data-testid="reconnect-button" onClick={() => control?.reconnectNow()}>
          Retry now
        </button>
      ) : null}
    </div>
  );
}
