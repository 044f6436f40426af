/**
 * The ingest goals as a picture a person can glance at: one bar per goal,
 * its length how far the median reaches (1 = the goal met exactly), the
 * min–max of the rounds as a whisker, and the line at the goal.
 */
export interface GoalFigure {
  value?: { median: number; min: number; max: number };
  goal?: number;
  /** true: the figure must be at least the goal; false: at most. */
  atLeast?: boolean;
  skipped?: string;
}

const WIDTH = 720;
const ROW = 28;
const LABEL = 230;
const SCALE_MAX = 2;

export function goalsChart(goals: Record<string, GoalFigure>, title: string): string {
  const rows = Object.entries(goals);
  const height = 60 + rows.length * ROW;
  const x = (reach: number) => LABEL + (Math.min(reach, SCALE_MAX) / SCALE_MAX) * (WIDTH - LABEL - 20);
  const reach = (g: GoalFigure, v: number) => (g.atLeast ? v / g.goal! : g.goal! / v);
  const xml = (text: string) => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const bars = rows.map(([name, g], i) => {
    const y = 40 + i * ROW;
    if (!g.value || g.goal === undefined)
      return `<text x="8" y="${y + 16}">${xml(name)}</text><text x="${LABEL}" y="${y + 16}" fill="#666">skipped: ${xml(g.skipped ?? '')}</text>`;
    const median = reach(g, g.value.median);
    const [low, high] = [reach(g, g.atLeast ? g.value.min : g.value.max), reach(g, g.atLeast ? g.value.max : g.value.min)];
    const colour = median >= 1 ? '#2e7d32' : median >= 0.75 ? '#f9a825' : '#c62828';
    return [
      `<text x="8" y="${y + 16}">${xml(name)}</text>`,
      `<rect x="${LABEL}" y="${y + 4}" width="${x(median) - LABEL}" height="16" fill="${colour}"/>`,
      `<line x1="${x(low)}" x2="${x(high)}" y1="${y + 12}" y2="${y + 12}" stroke="#000"/>`,
      `<text x="${x(median) + 4}" y="${y + 16}" font-size="11">${g.value.median} (goal ${g.atLeast ? '≥' : '≤'} ${g.goal})</text>`,
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="22" font-weight="bold">${xml(title)}</text>
<line x1="${x(1)}" x2="${x(1)}" y1="32" y2="${height - 10}" stroke="#333" stroke-dasharray="4 3"/>
<text x="${x(1) + 4}" y="${height - 12}" font-size="11">goal</text>
${bars.join('\n')}
</svg>
`;
}
