/** A coloured word for a health: worker (active, idle, stale, gone), source (up, degraded, down), node (up, down). */

const LABEL: Record<string, string> = {
  active: 'active',
  idle: 'idle',
  stale: 'stale',
  gone: 'gone',
  up: 'up',
  degraded: 'degraded',
  down: 'down',
};

export function HealthBadge(props: { health: string; title?: string }) {
  return (
    <span className={`badge badge-${props.health}`} title={props.title}>
      {LABEL[props.health] ?? props.health}
    </span>
  );
}
