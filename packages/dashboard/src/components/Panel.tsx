/** The frame every panel shares: a titled region with optional figures or controls on the right of its title. */
import { useId, type ReactNode } from 'react';

export function Panel(props: {
  title: string;
  testId: string;
  className?: string;
  aside?: ReactNode;
  children: ReactNode;
}) {
  const id = useId();
  return (
    <section className={`panel ${props.className ?? ''}`} data-testid={props.testId} aria-labelledby={id}>
      <header className="panel-head">
        <h2 id={id}>{props.title}</h2>
        {props.aside !== undefined && <div className="panel-aside">{props.aside}</div>}
      </header>
      <div className="panel-body">{props.children}</div>
    </section>
  );
}

/** What a panel says instead of zeros when there is nothing to show. */
export function Empty(props: { testId?: string; children: ReactNode }) {
  return (
    <p className="empty" data-testid={props.testId}>
      {props.children}
    </p>
  );
}
