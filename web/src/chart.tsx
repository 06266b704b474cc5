import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Title,
  Tooltip,
} from 'chart.js';
import { useEffect, useRef } from 'react';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Title,
  Tooltip,
);
Chart.defaults.font.family =
  getComputedStyle(document.documentElement).getPropertyValue('--sans') || 'system-ui';
Chart.defaults.font.size = 12;
Chart.defaults.color = '#4a5264';
Chart.defaults.borderColor = 'rgba(20, 30, 50, 0.08)';
Chart.defaults.animation = { duration: 250 };
Chart.defaults.plugins.legend.labels.boxWidth = 12;
Chart.defaults.plugins.legend.labels.boxHeight = 12;
Chart.defaults.plugins.title.color = '#1b2130';

/** Colours for series: distinguishable, print-friendly, colour-blind-aware (Okabe–Ito order). */
export const SERIES = [
  '#2f5bd3',
  '#d55e00',
  '#009e73',
  '#cc79a7',
  '#e69f00',
  '#56b4e9',
  '#7a5195',
  '#444b5a',
];

export function ChartView({
  config,
  height = 260,
  label,
  testId,
}: {
  config: ChartConfiguration;
  height?: number;
  /** What the chart shows, for screen readers. */
  label: string;
  testId?: string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      ...config,
      options: { responsive: true, maintainAspectRatio: false, ...config.options },
    });
    return () => chart.destroy();
  }, [config]);
  return (
    <div className="chart" style={{ height }} data-testid={testId}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
