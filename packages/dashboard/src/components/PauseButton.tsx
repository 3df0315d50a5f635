/** Freezes the view for reading; data keeps arriving underneath and resuming shows the latest. */
import { useDashboardStore, useDashboard } from '../store/react.js';

export function PauseButton() {
  const store = useDashboardStore();
  const paused = useDashboard((s) => s.paused !== null);
  return (
    <button
      type="button"
      className={`btn ${paused ? 'btn-paused' : ''}`}
      data-testid="pause-button"
      aria-pressed={paused}
      title={paused ? 'Resume live updates (Space)' : 'Freeze the view; data keeps arriving (Space)'}
      onClick={() => store.togglePause()}
    >
      <span aria-hidden="true" className="btn-icon">
        {paused ? '▶' : '❚❚'}
      </span>
      {paused ? 'Resume' : 'Pause'}
    </button>
  );
}
