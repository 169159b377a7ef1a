// The panel's stylesheet, themed entirely with VS Code's CSS variables (each with a Light+
// fallback). The CSP allows inline styles only with the page's nonce, so main.ts inserts
// this text in a <style nonce> element.
export const stylesheet = `
body {
  color: var(--vscode-foreground, #333);
  background: var(--vscode-editor-background, #fff);
  font-family: var(--vscode-font-family, system-ui, sans-serif);
  font-size: var(--vscode-font-size, 13px);
  margin: 0;
  padding: 12px 20px 32px;
}
h1 { font-size: 1.3em; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 1.1em; margin: 24px 0 8px; font-weight: 600; }
h3 { font-size: 1em; margin: 16px 0 6px; font-weight: 600; }
.muted { color: var(--vscode-descriptionForeground, #717171); }
.empty { color: var(--vscode-descriptionForeground, #717171); font-style: italic; }
.header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 16px; }
.recipe-path { font-family: var(--vscode-editor-font-family, monospace); overflow-wrap: anywhere; }
.status-badge {
  display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.85em; font-weight: 600;
  color: var(--vscode-badge-foreground, #fff); background: var(--vscode-badge-background, #616161);
}
.status-running .status-badge { background: var(--vscode-charts-blue, #1a85ff); color: var(--vscode-editor-background, #fff); }
.status-done .status-badge { background: var(--vscode-charts-green, #388a34); color: var(--vscode-editor-background, #fff); }
.status-failed .status-badge { background: var(--vscode-errorForeground, #a1260d); color: var(--vscode-editor-background, #fff); }
.meta { margin: 4px 0; }
.progress-line { margin: 6px 0; display: flex; align-items: center; gap: 10px; }
.progress-line progress { width: 200px; accent-color: var(--vscode-progressBar-background, #0e70c0); }
.error-box {
  margin: 10px 0; padding: 8px 12px; white-space: pre-wrap; overflow-wrap: anywhere;
  border-left: 3px solid var(--vscode-inputValidation-errorBorder, #be1100);
  background: var(--vscode-inputValidation-errorBackground, #f2dede);
  color: var(--vscode-errorForeground, #a1260d);
}
.actions { display: flex; gap: 8px; margin: 10px 0; }
button {
  font: inherit; padding: 4px 12px; border: 1px solid var(--vscode-button-border, transparent); border-radius: 2px; cursor: pointer;
  color: var(--vscode-button-foreground, #fff); background: var(--vscode-button-background, #007acc);
}
button:hover:not(:disabled) { background: var(--vscode-button-hoverBackground, #0062a3); }
button:focus-visible { outline: 1px solid var(--vscode-focusBorder, #0090f1); outline-offset: 2px; }
button:disabled { opacity: 0.5; cursor: default; }
table.results { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
.table-note { margin: 2px 0 8px; font-size: 0.9em; }
table.results th, table.results td {
  padding: 4px 12px; border-bottom: 1px solid var(--vscode-editorWidget-border, #c8c8c8); vertical-align: top;
}
table.results thead th { text-align: right; font-weight: 600; white-space: nowrap; }
table.results thead th:first-child { text-align: left; }
table.results tbody th { text-align: left; font-weight: normal; overflow-wrap: anywhere; max-width: 24em; }
table.results td { text-align: right; }
table.results .model-name, table.results .task-name { font-weight: 600; }
table.results .point, table.results .reference-model { display: block; font-weight: normal; font-size: 0.85em; color: var(--vscode-descriptionForeground, #717171); }
tr.role-target th { border-left: 3px solid var(--vscode-charts-red, #e51400); }
tr.role-control th { border-left: 3px dashed var(--vscode-charts-blue, #1a85ff); }
.role-badge {
  display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px; font-size: 0.8em;
  border: 1px solid currentColor;
}
.role-badge.target { color: var(--vscode-charts-red, #e51400); }
.role-badge.control { color: var(--vscode-charts-blue, #1a85ff); }
.metric-name { display: block; font-size: 0.85em; color: var(--vscode-descriptionForeground, #717171); }
.value span { white-space: nowrap; }
.value .abs { display: block; font-weight: 600; }
.value .norm, .value .delta { display: block; font-size: 0.85em; }
.delta.good { color: var(--vscode-testing-iconPassed, #388a34); }
.delta.bad { color: var(--vscode-errorForeground, #a1260d); }
.reasons { margin: 4px 0 0; padding-left: 18px; }
figure.chart, .heatmap, .heatmap figure { margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 24px; }
.chart { flex: 1 1 420px; max-width: 720px; }
.chart svg, .heatmap svg { font-size: 11px; }
.chart svg { color: var(--vscode-editor-foreground, #333); font-family: var(--vscode-font-family, system-ui, sans-serif); --plot-background: var(--vscode-editor-background, #fff); }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 2px 0 6px; font-size: 0.9em; }
.legend .swatch { display: inline-block; width: 18px; height: 0; margin-right: 6px; vertical-align: middle; border-top: 2px solid; }
.legend .swatch.control { border-top-style: dashed; }
.heatmap { max-width: 640px; margin: 0; }
.heatmap svg { color: var(--vscode-editor-foreground, #333); font-family: var(--vscode-font-family, system-ui, sans-serif); --plot-background: var(--vscode-editor-background, #fff); }
.norms { margin: 4px 0; }
ul.notes, ul.outputs { margin: 4px 0; padding-left: 18px; overflow-wrap: anywhere; }
`;
