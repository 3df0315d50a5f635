/** The ESS nodes of a scaled-out deployment (shown only when the server reports more than itself). */
import { formatAgo, formatByteRate, formatCount } from '../format/units.js';
import { useDashboard } from '../store/react.js';
import { selectServerNow } from '../store/selectors.js';
import { HealthBadge } from './HealthBadge.js';
import { Panel } from './Panel.js';

export function NodesPanel() {
  const nodes = useDashboard((s) => s.view.nodes);
  const serverSecond = useDashboard((s) => Math.floor(selectServerNow(s) / 1000));
  if (nodes.length === 0) return null;
  return (
    <Panel title="Nodes" testId="nodes-panel" className="nodes">
      <table className="mini">
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Health</th>
            <th scope="col" className="c-num">Workers</th>
            <th scope="col" className="c-num">Throughput</th>
            <th scope="col" className="c-num">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((n) => (
            <tr key={n.id} data-node-id={n.id} data-health={n.health}>
              <th scope="row" title={n.url}>
                {n.id}
              </th>
              <td>
                <HealthBadge health={n.health} />
              </td>
              <td className="c-num">{formatCount(n.workers)}</td>
              <td className="c-num">{formatByteRate(n.rate)}</td>
              <td className="c-num">{formatAgo(serverSecond * 1000 - n.lastSeen)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}
