// Colours come from the VS Code theme. SVG presentation attributes cannot use var(), so the
// chart colours are read from the CSS variables at render time, and the page redraws when
// VS Code switches theme (it rewrites the variables on <html> and the theme class on <body>).
export interface Theme {
  readonly foreground: string;
  readonly background: string;
  /** One colour per task line, in order; repeats when there are more tasks. */
  readonly series: readonly string[];
  /** Heatmap ends: negative and positive cosine. */
  readonly negative: string;
  readonly positive: string;
}

// Fallbacks are VS Code's Light+ values, for a page shown outside VS Code.
const seriesVariables: readonly (readonly [string, string])[] = [
  ['--vscode-charts-blue', '#1a85ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#388a34'],
  ['--vscode-charts-purple', '#652d90'],
  ['--vscode-charts-yellow', '#bf8803'],
  ['--vscode-charts-red', '#e51400'],
];

export function readTheme(element: Element = document.body): Theme {
  const style = getComputedStyle(element);
  const read = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;
  return {
    foreground: read('--vscode-editor-foreground', '#333333'),
    background: read('--vscode-editor-background', '#ffffff'),
    series: seriesVariables.map(([name, fallback]) => read(name, fallback)),
    negative: read('--vscode-charts-red', '#e51400'),
    positive: read('--vscode-charts-blue', '#1a85ff'),
  };
}

/** Calls `onChange` once per animation frame after the theme classes or variables change. */
export function observeTheme(onChange: () => void): MutationObserver {
  let scheduled = false;
  const observer = new MutationObserver(() => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      onChange();
    });
  });
  for (const target of [document.documentElement, document.body]) observer.observe(target, { attributes: true, attributeFilter: ['class', 'style'] });
  return observer;
}
