// The end-to-end suite in a real VS Code: packages the extension as a .vsix, installs it into
// isolated code-server instances, and drives headless Chromium through the UI scenarios
// (scenarios.ts) and the in-extension-host mocha suite (suite/).
//
//   node test/vscode/run.ts [--no-build | --vsix FILE] [--only TEXT]... [--artifacts DIR]
//
// --no-build packages the current dist/ as it is; --vsix tests a .vsix packaged elsewhere;
// --only (repeatable) runs the checks whose name contains one of the TEXTs.
// Screenshots and logs go to test-results/vscode/ (or DIR). Needs scripts/setup-vscode-e2e.sh first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  collectLogs, findInstall, installExtension, prepareInstance, SetupError, startCodeServer,
  type CodeServerInstall, type InstanceDirs, type RunningCodeServer,
} from './code-server.ts';
import { bundleSuite, runInHost } from './in-host.ts';
import { killAllNow, stopAll } from './processes.ts';
import { uiScenarios } from './scenarios.ts';
import { launchBrowser, Workbench } from './workbench.ts';
import { allFiles, writeWorkspace, type WorkspaceFiles } from './workspace.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
function parseOptions() {
  try {
    return parseArgs({
      options: { 'no-build': { type: 'boolean', default: false }, vsix: { type: 'string' }, only: { type: 'string', multiple: true }, artifacts: { type: 'string' } },
    }).values;
  } catch (error) {
    console.error(`vscode e2e: ${(error as Error).message}\nusage: node test/vscode/run.ts [--no-build | --vsix FILE] [--only TEXT]... [--artifacts DIR]`);
    process.exit(2);
  }
}
const values = parseOptions();
const artifacts = resolve(values.artifacts ?? join(root, 'test-results/vscode'));

/** What a check gets: a running code-server and places for its files. */
interface CheckContext {
  readonly server: RunningCodeServer;
  readonly dirs: InstanceDirs;
  readonly extensionPath: string;
  /** A fresh workspace folder with the example files plus `files`. */
  workspace(files: WorkspaceFiles): string;
  readonly shotsDir: string;
  readonly profileDir: string;
  /** This instance's log folder in the artifacts. */
  readonly logDir: string;
}

interface Check {
  readonly name: string;
  readonly restricted: boolean;
  run(context: CheckContext): Promise<void>;
}

function uiCheck(scenario: (typeof uiScenarios)[number]): Check {
  return {
    name: scenario.name,
    restricted: scenario.restricted,
    async run(context) {
      const browser = await launchBrowser(context.profileDir, context.dirs.env);
      try {
        const page = browser.pages()[0] ?? (await browser.newPage());
        const workbench = await Workbench.open(page, context.server.url, context.workspace(scenario.files), context.shotsDir);
        try {
          await scenario.run(workbench);
        } catch (error) {
          const shot = await workbench.screenshot('failure').catch(() => undefined);
          if (shot) console.log(`       screenshot: ${relative(process.cwd(), shot)}`);
          throw error;
        }
      } finally {
        await browser.close();
      }
    },
  };
}

function inHostCheck(suiteFile: string): Check {
  return {
    name: 'in-host mocha suite',
    restricted: false,
    async run(context) {
      const browser = await launchBrowser(context.profileDir, context.dirs.env);
      try {
        const page = browser.pages()[0] ?? (await browser.newPage());
        const workspace = context.workspace(allFiles);
        const workbench = new Workbench(page, workspace, context.shotsDir);
        try {
          const code = await runInHost(page, {
            serverUrl: context.server.url,
            workspace,
            extensionPath: context.extensionPath,
            suiteFile,
            logFile: join(context.logDir, 'in-host-console.log'),
            echo: (line) => console.log(`    [extension host] ${line}`),
            timeoutMs: 180_000,
          });
          if (code !== 0) throw new Error(`the in-host suite exited with ${code}; the extension host's console: ${relative(process.cwd(), join(context.logDir, 'in-host-console.log'))}`);
        } finally {
          await workbench.screenshot('finished').catch(() => undefined);
        }
      } finally {
        await browser.close();
      }
    },
  };
}

const slug = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

function runNode(args: readonly string[], what: string): void {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new SetupError(`${what} failed (exit ${result.status ?? result.signal}); its output is above`);
}

function buildAndPackage(runDir: string, build: boolean): string {
  if (build) runNode(['scripts/build.ts', '--production'], 'the build');
  for (const bundle of ['dist/client.cjs', 'dist/tvr.mjs']) {
    if (!existsSync(join(root, bundle))) throw new Error(`${bundle} is missing after the build`);
  }
  const vsix = join(runDir, 'tvr.vsix');
  runNode(['node_modules/@vscode/vsce/vsce', 'package', '--no-dependencies', '--allow-missing-repository', '--no-rewrite-relative-links', '--out', vsix], 'vsce package');
  return vsix;
}

interface Result {
  readonly name: string;
  readonly error?: unknown;
  readonly ms: number;
}

async function runInstance(install: CodeServerInstall, runDir: string, vsix: string, restricted: boolean, checks: readonly Check[]): Promise<Result[]> {
  const name = restricted ? 'restricted' : 'trusted';
  const dirs = prepareInstance(join(runDir, name), install, { trust: restricted });
  const logDir = join(artifacts, 'logs', name);
  mkdirSync(logDir, { recursive: true });
  const results: Result[] = [];
  await installExtension(install, dirs, vsix, join(logDir, 'install.log'));
  const extensionPath = join(dirs.extensions, readdirSync(dirs.extensions).find((entry) => entry.startsWith('tvr-dev.tvr-'))!);
  const server = await startCodeServer(install, dirs, { trust: restricted }, join(logDir, 'code-server.log'));
  try {
    for (const check of checks) {
      const started = Date.now();
      const id = slug(check.name);
      console.log(`  ${check.name} ...`);
      const context: CheckContext = {
        server,
        dirs,
        extensionPath,
        workspace: (files) => writeWorkspace(join(runDir, 'workspaces', id), files),
        shotsDir: join(artifacts, 'screenshots', id),
        profileDir: join(runDir, 'chromium', id),
        logDir,
      };
      try {
        await check.run(context);
        results.push({ name: check.name, ms: Date.now() - started });
        console.log(`  ok   ${check.name} (${Date.now() - started} ms)`);
      } catch (error) {
        results.push({ name: check.name, error, ms: Date.now() - started });
        console.log(`  FAIL ${check.name} (${Date.now() - started} ms)\n       ${String(error instanceof Error ? error.stack ?? error.message : error).replace(/\n/g, '\n       ')}`);
      }
    }
  } finally {
    await server.process.stop();
    collectLogs(dirs, logDir);
  }
  return results;
}

async function main(): Promise<number> {
  const started = Date.now();
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  const runDir = mkdtempSync(join(tmpdir(), 'tvr-vscode-'));
  try {
    const install = findInstall(root);
    const vsix = values.vsix ? resolve(values.vsix) : buildAndPackage(runDir, !values['no-build']);
    if (!existsSync(vsix)) throw new SetupError(`${vsix} does not exist`);
    const suiteFile = await bundleSuite(root, join(runDir, 'suite'));
    const only = values.only ?? [];
    const checks = [...uiScenarios.map(uiCheck), inHostCheck(suiteFile)].filter((check) => only.length === 0 || only.some((text) => check.name.includes(text)));
    if (checks.length === 0) throw new SetupError(`no check matches --only ${only.join(', ')}`);
    const results: Result[] = [];
    for (const restricted of [false, true]) {
      const group = checks.filter((check) => check.restricted === restricted);
      if (group.length > 0) results.push(...(await runInstance(install, runDir, vsix, restricted, group)));
    }
    const failed = results.filter((result) => result.error !== undefined);
    const summary = `${results.length - failed.length} passed, ${failed.length} failed`;
    writeFileSync(join(artifacts, 'summary.txt'), `${results.map((r) => `${r.error ? 'FAIL' : 'ok  '} ${r.name} (${r.ms} ms)`).join('\n')}\n${summary}\n`);
    console.log(`\nvscode e2e: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (failed.length > 0) console.log(`screenshots and logs (code-server, extension host, tvr output channel): ${relative(process.cwd(), artifacts) || '.'}/`);
    console.log(summary);
    return failed.length === 0 ? 0 : 1;
  } finally {
    await stopAll();
    rmSync(runDir, { recursive: true, force: true });
  }
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

main().then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    console.error(`vscode e2e: ${error instanceof Error ? (error instanceof SetupError ? error.message : error.stack) : String(error)}`);
    console.error(`logs: ${relative(process.cwd(), artifacts) || '.'}/`);
    process.exitCode = 2;
  },
);
