// Checkpoints created or changed on disk re-check the open recipes: through the client's
// file watcher where it can register one dynamically (VS Code, eglot, Helix), else by
// polling the files the latest analyses did not find (Neovim 0.7): a stat of each every
// few seconds, only while one is missing.
import { stat } from 'node:fs/promises';
import { DidChangeWatchedFilesNotification } from 'vscode-languageserver/node';
import type { Feature } from './context.ts';
import { uriToPath } from './convert.ts';
import type { RecipeWorkspace } from './workspace.ts';

export const missingFilePollMs = 2000;

export const fileChangesFeature: Feature = {
  register({ connection, workspace }) {
    connection.onDidChangeWatchedFiles((params) => workspace.filesChanged(params.changes.map((c) => uriToPath(c.uri))));
  },
  initialized({ connection, workspace, client }) {
    if (client.watchesFiles) {
      void connection.client.register(DidChangeWatchedFilesNotification.type, { watchers: [{ globPattern: '**/*.{safetensors,json,bin}' }] });
      return;
    }
    const poller = new MissingFilePoller(workspace);
    workspace.onAnalysis(() => poller.update());
    workspace.documents.onDidClose(() => poller.update());
  },
};

class MissingFilePoller {
  readonly #workspace: RecipeWorkspace;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(workspace: RecipeWorkspace) {
    this.#workspace = workspace;
  }

  /** After each analysis and close: poll while a file is missing, stop when none is. */
  update(): void {
    if (this.#workspace.missingFiles().size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    } else {
      // Unreferenced: polling never keeps the process alive.
      this.#timer ??= setInterval(() => void this.#poll(), missingFilePollMs).unref();
    }
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const missing = [...this.#workspace.missingFiles()];
      const found = await Promise.all(missing.map((path) => stat(path).then(() => true, () => false)));
      const appeared = missing.filter((_, i) => found[i]);
      if (appeared.length > 0) this.#workspace.filesChanged(appeared);
    } finally {
      this.#polling = false;
    }
  }
}
