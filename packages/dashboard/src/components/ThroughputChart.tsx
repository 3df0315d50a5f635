/**
 * The live chart of aggregate throughput and event rate (uPlot on a canvas). It reads the series ring buffers
 * and calls `setData` from a store subscription, outside React renders; it redraws only when the visible view changes.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatByteRate, formatClock, formatEventRate } from '../format/units.js';
import { useDashboardStore } from '../store/react.js';

const RATE_COLOR = '#4ea1ff';
const EVENTS_COLOR = '#3ccf91';
const AXIS_COLOR = '#8a96a8';
const GRID_COLOR = 'rgba(138,150,168,0.12)';
const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/** The newest non-null value of a series (what the legend shows when the cursor is not on the chart). */
function latest(u: uPlot, seriesIdx: number): number | null {
  const col = u.data[seriesIdx] as (number | null | undefined)[] | undefined;
  if (!col) return null;
  for (let i = col.length - 1; i >= 0; i--) {
    const v = col[i];
    if (v != null) return v;
  }
  return null;
}

/** Time ticks as wall-clock times: minutes when the span is long, seconds when short. */
function timeTicks(_u: uPlot, splits: number[], _axisIdx: number, _space: number, incr: number): string[] {
  return splits.map((s) => {
    const hms = formatClock(s * 1000);
    return incr >= 60 ? hms.slice(0, 5) : hms;
  });
}

/** False in DOMs without a 2D canvas (test environments); uPlot would fail later, asynchronously, there. */
function canvasSupported(): boolean {
  try {
    return document.createElement('canvas').getContext('2d') !== null;
  } catch {
    return false;
  }
}

/** Y ranges start at zero and leave headroom, so a flat line does not look like a cliff. */
const fromZero: uPlot.Range.Function = (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1000];

export function ThroughputChart(props: { height?: number }) {
  const store = useDashboardStore();
  const host = useRef<HTMLDivElement>(null);
  const height = props.height ?? 150;

  useEffect(() => {
    const el = host.current;
    if (!el || !canvasSupported()) return;
    const width = Math.max(200, el.clientWidth || 600);
    const opts: uPlot.Options = {
      width,
      height,
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      legend: { show: true, live: true },
      scales: {
        x: { time: true, range: (_u, min, max) => [Math.min(min, max - 60), max] },
        rate: { range: fromZero },
        ev: { range: fromZero },
      },
      axes: [
        { stroke: AXIS_COLOR, font: FONT, values: timeTicks, space: 70, grid: { stroke: GRID_COLOR, width: 1 }, ticks: { stroke: GRID_COLOR, width: 1 } },
        {
          scale: 'rate',
          stroke: RATE_COLOR,
          font: FONT,
          size: 78,
          values: (_u, splits) => splits.map((v) => formatByteRate(v)),
          grid: { stroke: GRID_COLOR, width: 1 },
          ticks: { show: false },
        },
        {
          scale: 'ev',
          side: 1,
          stroke: EVENTS_COLOR,
          font: FONT,
          size: 84,
          values: (_u, splits) => splits.map((v) => formatEventRate(v)),
          grid: { show: false },
          ticks: { show: false },
        },
      ],
      series: [
        { label: 'Time', value: (u, v) => (v == null ? `${formatClock((latest(u, 0) ?? 0) * 1000)} (latest)` : formatClock(v * 1000)) },
        {
          label: 'Throughput',
          scale: 'rate',
          stroke: RATE_COLOR,
          width: 1.5,
          fill: 'rgba(78,161,255,0.10)',
          points: { show: false },
          value: (u, v) => formatByteRate(v ?? latest(u, 1)),
        },
        {
          label: 'Events/s',
          scale: 'ev',
          stroke: EVENTS_COLOR,
          width: 1.5,
          points: { show: false },
          value: (u, v) => formatEventRate(v ?? latest(u, 2)),
        },
      ],
    };

    const p = new uPlot(opts, store.series.totalsData(), el);
    let lastView = store.api.getState().view;
    const unsubscribe = store.api.subscribe((s) => {
      if (s.view === lastView) return;
      lastView = s.view;
      p.setData(store.series.totalsData());
    });
    const ro =
      typeof ResizeObserver === 'function'
        ? new ResizeObserver(() => {
            const w = el.clientWidth;
            if (w > 0 && w !== p.width) p.setSize({ width: w, height });
          })
        : null;
    ro?.observe(el);
    return () => {
      unsubscribe();
      ro?.disconnect();
      p.destroy();
    };
  }, [store, height]);

  return <div className="chart" ref={host} data-testid="throughput-chart" role="img" aria-label="Throughput and event rate over the last ten minutes" />;
}
