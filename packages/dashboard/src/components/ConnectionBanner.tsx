/**
 * The banners under the top bar: "data is stale" whenever the numbers on screen are not live (channel
 * dropped, silent or closed) and "paused" while the view is frozen. Never both hidden when either applies.
 */
import { formatAgo, formatClock, formatDuration } from '../format/units.js';
import { useConnectionControl, useDashboard } from '../store/react.js';

export function ConnectionBanner() {
  return (
    <>
      <StaleBanner />
      <PausedBanner />
    </>
  );
}

export function StaleBanner() {
  const state = useDashboard((s) => s.connection.state);
  const ready = useDashboard((s) => s.view.ready);
  const problem = useDashboard((s) => s.connection.problem);
  const lastDataAt = useDashboard((s) => s.connection.lastDataAt);
  const retryAt = useDashboard((s) => s.connection.retryAt);
  const needToken = useDashboard((s) => s.connection.needToken);
  const now = useDashboard((s) => s.now);
  const control = useConnectionControl();
  // Before the first snapshot there is no data to call stale; the panels say they are waiting.
  if (!ready || state === 'open') return null;
  const age = lastDataAt === null ? null : now - lastDataAt;
  return (
    <div className="banner banner-stale" data-testid="stale-banner" data-state={state} role="alert">
      <strong>Data is stale.</strong>
      <span>
        {problem ?? 'The monitor channel is not delivering updates.'} The figures below are from{' '}
        {lastDataAt === null ? 'an earlier session' : `${formatClock(lastDataAt)} (${formatAgo(age)})`}.
      </span>
      <span className="banner-right">
        {state === 'connecting' && retryAt !== null && <span>Reconnecting in {formatDuration(Math.max(0, Math.ceil((retryAt - now) / 1000)))}</span>}
        {state === 'connecting' && retryAt === null && <span>Reconnecting…</span>}
        {!needToken && (
          <button type="button" className="btn btn-small" onClick={() => control?.reconnectNow()}>
            Reconnect now
          </button>
        )}
      </span>
    </div>
  );
}

export function PausedBanner() {
  const paused = useDashboard((s) => s.paused);
  if (!paused) return null;
  return <PausedInfo since={paused.since} held={paused.held} />;
}

function PausedInfo(props: { since: number; held: number }) {
  return (
    <div className="banner banner-paused" data-testid="paused-banner" data-held={props.held} role="status">
      <strong>Paused.</strong>
      <span>
        The view is frozen at {formatClock(props.since)}; {props.held} update{props.held === 1 ? '' : 's'} arrived since and will show on resume.
      </span>
    </div>
  );
}
