// What the connected client can take, read once from `initialize`: features answer in the
// form it asked for (snippets or plain text, Markdown or plain documentation) and use
// VS Code's own commands and icon syntax only in VS Code, whose extension says so in its
// `initializationOptions`.
import { MarkupKind, type ClientCapabilities, type InitializeParams } from 'vscode-languageserver/node';
import { markdown, plainText, type Markup } from '../language/ide/markup.ts';

/**
 * What the VS Code extension sends as `initializationOptions` (client/src/language-client.ts);
 * other editors send nothing or options of their own. While the workspace is untrusted,
 * checks keep saves inside the recipe's folder whatever allowOutputsOutside says, and a run
 * the server starts refuses external evaluator commands.
 */
export interface InitializationOptions {
  /** 'vscode' from the tvr extension: VS Code commands and `$(icon)` titles are welcome, and it runs recipes itself. */
  readonly client?: string;
  readonly trusted?: boolean;
  /** The user setting tvr.run.allowOutputsOutside (honoured only when trusted). */
  readonly allowOutputsOutside?: boolean;
}

export class ClientSupport {
  #capabilities: ClientCapabilities = {};
  #options: InitializationOptions = {};

  initialize(params: InitializeParams): void {
    this.#capabilities = params.capabilities;
    const options: unknown = params.initializationOptions;
    this.#options = typeof options === 'object' && options !== null ? options as InitializationOptions : {};
  }

  get options(): InitializationOptions {
    return this.#options;
  }

  /** The tvr VS Code extension, which implements `tvr.runRecipe` itself and renders `$(icon)` titles. */
  get isVsCode(): boolean {
    return this.#options.client === 'vscode';
  }

  get snippets(): boolean {
    return this.#capabilities.textDocument?.completion?.completionItem?.snippetSupport === true;
  }

  get hover(): Markup {
    return preferred(this.#capabilities.textDocument?.hover?.contentFormat);
  }

  get completionDocumentation(): Markup {
    return preferred(this.#capabilities.textDocument?.completion?.completionItem?.documentationFormat);
  }

  get signatureDocumentation(): Markup {
    return preferred(this.#capabilities.textDocument?.signatureHelp?.signatureInformation?.documentationFormat);
  }

  /** Server-initiated progress (`window/workDoneProgress/create`). */
  get workDoneProgress(): boolean {
    return this.#capabilities.window?.workDoneProgress === true;
  }

  /** The client watches files for the server (a dynamically registered `workspace/didChangeWatchedFiles`). */
  get watchesFiles(): boolean {
    return this.#capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration === true;
  }
}

/** The first format the client lists that the server writes; plain text when it lists none (readable everywhere). */
function preferred(formats: readonly MarkupKind[] | undefined): Markup {
  for (const format of formats ?? []) {
    if (format === MarkupKind.Markdown) return markdown;
    if (format === MarkupKind.PlainText) return plainText;
  }
  return plainText;
}
