// Publishes diagnostics after every analysis.
import type { FeatureContext } from './context.ts';
import { toLspDiagnostic } from './convert.ts';

export function registerDiagnostics({ connection, workspace }: FeatureContext): void {
  workspace.onAnalysis((uri, analysis, version) => {
    void connection.sendDiagnostics({ uri, version, diagnostics: analysis.diagnostics.map((d) => toLspDiagnostic(analysis, d, uri)) });
  });
}
