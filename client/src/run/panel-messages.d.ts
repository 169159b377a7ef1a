import type { RunResults } from '../../../server/src/results/schema.ts';
/** The webview panel's view type: the serializer and `onWebviewPanel:tvr.results` name it. */
export declare const resultsViewType = "tvr.results";
export type ExportFormat = 'csv' | 'json';
/** Extension host -> webview. */
export type HostMessage = 
/** The whole results after every change: the webview redraws from the latest one. */
{
    readonly type: 'results';
    readonly results: RunResults;
}
/** The line under the status while a run is going; `fraction` in 0..1 when known. */
 | {
    readonly type: 'progress';
    readonly message: string;
    readonly fraction?: number;
};
/** Webview -> extension host. */
export type WebviewMessage = 
/** The webview has loaded (again, after it was hidden or reloaded) and wants the latest results. */
{
    readonly type: 'ready';
} | {
    readonly type: 'export';
    readonly format: ExportFormat;
};
/** Kept by the webview through `vscode.setState`; the panel serializer restores a panel from it. */
export interface PanelState {
    readonly version: 1;
    readonly results?: RunResults;
    readonly progress?: {
        readonly message: string;
        readonly fraction?: number;
    };
}
/**
 * A shallow check of the fields every reader relies on. The schema version is checked by
 * the renderer, which tells the user about a version it does not know instead of dropping it.
 */
export declare function isRunResults(value: unknown): value is RunResults;
export declare function parseHostMessage(data: unknown): HostMessage | undefined;
export declare function parseWebviewMessage(data: unknown): WebviewMessage | undefined;
/** Reads a stored state; anything unrecognisable becomes an empty state rather than an error. */
export declare function parsePanelState(data: unknown): PanelState;
