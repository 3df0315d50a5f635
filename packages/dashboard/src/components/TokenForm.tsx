/** Asks for a monitor token when the server refuses the connection without one (4401) or with a wrong one (4401/4403). */
import { useState, type FormEvent } from 'react';
import { saveToken } from '../connection/token.js';
import { useConnectionControl, useDashboard } from '../store/react.js';

export function TokenForm() {
  const needToken = useDashboard((s) => s.connection.needToken);
  const problem = useDashboard((s) => s.connection.problem);
  if (!needToken) return null;
  return <TokenDialog problem={problem} />;
}

function TokenDialog(props: { problem: string | null }) {
  const control = useConnectionControl();
  const [token, setToken] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) return;
    saveToken(t);
    control?.setToken(t);
  };
  return (
    <div className="overlay">
      <form className="dialog" role="dialog" aria-modal="true" aria-labelledby="token-title" data-testid="token-form" onSubmit={submit}>
        <h2 id="token-title">Monitor token required</h2>
        <p className="dialog-problem" data-testid="token-problem">
          {props.problem ?? 'The server requires a token to watch the monitor channel.'}
        </p>
        <label htmlFor="token-input">Token</label>
        <input
          id="token-input"
          data-testid="token-input"
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoFocus
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="paste the monitor token"
        />
        <p className="muted small">Kept for this browser tab only (sessionStorage). You can also open the page with ?token=…</p>
        <div className="dialog-actions">
          <button type="submit" className="btn btn-primary" data-testid="token-submit" disabled={token.trim() === ''}>
            Connect
          </button>
        </div>
      </form>
    </div>
  );
}
