// Publishes diagnostics after every analysis.
import type { Feature } from './context.ts';
import { toLspDiagnostic } from './convert.ts';

export const diagnosticsFeature: Feature = {
  register({ connection, workspace }) {
    workspace.onAnalysis((uri, analysis, version) => {
      void connection.sendDiagnostics({ uri, version, diagnostics: analysis.diagnostics.map((d) => toLspDiagnostic(analysis, d, uri)) });
    });
  },
};
