// Allowed and denied decisions over time (uPlot, from GET /v1/audit/summary?buckets=N).
import uPlot from '../vendor/uplot.js';
import { html, useEffect, useRef } from '../lib.js';

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export function OutcomeChart({ series, title }) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current || !series?.length) return undefined;
    const times = series.map((b) => Date.parse(b.from) / 1000);
    const width = Math.max(280, Math.min(box.current.clientWidth || 640, 960));
    const axis = { stroke: css('--fg'), grid: { stroke: css('--grid') }, ticks: { stroke: css('--grid') } };
    const plot = new uPlot(
      {
        title,
        width,
        height: 220,
        scales: { x: { time: true } },
        axes: [axis, { ...axis, label: 'decisions' }],
        series: [
          {},
          { label: 'Allowed', stroke: css('--allow'), width: 2, points: { show: false } },
          { label: 'Denied', stroke: css('--deny'), width: 2, dash: [6, 4], points: { show: false } },
        ],
      },
      [times, series.map((b) => b.allow), series.map((b) => b.deny)],
      box.current,
    );
    return () => plot.destroy();
  }, [series]);
  return html`<figure class="chart"><div ref=${box} role="img" aria-label=${`${title}: allowed and denied decisions per interval`}></div></figure>`;
}
