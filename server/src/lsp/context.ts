// What every LSP feature receives, and the guard that keeps one failing request from
// taking the server down.
import type { Connection } from 'vscode-languageserver/node';
import type { Analysis } from '../language/analysis.ts';
import type { StatisticsService } from './statistics.ts';
import type { RecipeWorkspace } from './workspace.ts';

export interface FeatureContext {
  readonly connection: Connection;
  readonly workspace: RecipeWorkspace;
  readonly statistics: StatisticsService;
}

/**
 * Runs a request against the document's current analysis; an unexpected exception is
 * logged and answered with `fallback` instead of crashing the server.
 */
export async function withAnalysis<T>(context: FeatureContext, uri: string, feature: string, fallback: T, run: (analysis: Analysis) => T | Promise<T>): Promise<T> {
  try {
    const analysis = await context.workspace.analysis(uri);
    return analysis ? await run(analysis) : fallback;
  } catch (error) {
    context.connection.console.error(`${feature} failed on ${uri}: ${(error as Error).stack ?? String(error)}`);
    return fallback;
  }
}
