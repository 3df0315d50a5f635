/**
 * A worker's throughput over the last minute, drawn on a small canvas straight from its ring buffer.
 * It never re-renders for data: a store subscription redraws it when the visible view changes.
 * (A bare canvas rather than one uPlot instance per table row: rows mount and unmount as the table scrolls.)
 */
import { memo, useEffect, useRef } from 'react';
import { useDashboardStore } from '../store/react.js';
import type { RingBuffer } from '../store/series.js';

const W = 60;
const H = 18;

function draw(canvas: HTMLCanvasElement, ring: RingBuffer | undefined, points: number): void {
  let ctx: CanvasRenderingContext2D | null = null;
  try {
    ctx = canvas.getContext('2d');
  } catch {
    return;
  }
  if (!ctx) return;
  const dpr = typeof window !== 'undefined' ? window.devicePixelRatio || 1 : 1;
  if (canvas.width !== W * dpr) {
    canvas.width = W * dpr;
    canvas.height = H * dpr;
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const n = ring?.length ?? 0;
  if (!ring || n < 2) return;
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, ring.get(i));
  const step = W / Math.max(1, points - 1);
  const x0 = W - (n - 1) * step;
  const y = (v: number) => (max > 0 ? H - 1.5 - (v / max) * (H - 3) : H - 1.5);
  ctx.beginPath();
  for (let i = 0; i < n; i++) {
    const px = x0 + i * step;
    if (i === 0) ctx.moveTo(px, y(ring.get(i)));
    else ctx.lineTo(px, y(ring.get(i)));
  }
  ctx.strokeStyle = '#4ea1ff';
  ctx.lineWidth = 1.2;
  ctx.stroke();
  ctx.lineTo(x0 + (n - 1) * step, H);
  ctx.lineTo(x0, H);
  ctx.closePath();
  ctx.fillStyle = 'rgba(78,161,255,0.16)';
  ctx.fill();
}

export const Sparkline = memo(function Sparkline(props: { workerId: string }) {
  const store = useDashboardStore();
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const redraw = () => draw(canvas, store.series.workerRates(props.workerId), store.series.sparkPoints);
    redraw();
    let lastView = store.api.getState().view;
    return store.api.subscribe((s) => {
      if (s.view === lastView) return;
      lastView = s.view;
      redraw();
    });
  }, [store, props.workerId]);
  return <canvas ref={ref} className="spark" width={W} height={H} style={{ width: W, height: H }} aria-hidden="true" />;
});
