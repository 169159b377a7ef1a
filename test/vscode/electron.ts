// The in-extension-host suite (suite/) under VS Code desktop, through @vscode/test-electron,
// for machines that can download VS Code (update.code.visualstudio.com). Started by
// scripts/test-electron.ts; where VS Code cannot be downloaded, test/vscode/run.ts runs the
// same suite through code-server.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleSuite } from './in-host.ts';
import { allFiles, writeWorkspace } from './workspace.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The part of @vscode/test-electron (2.x) this uses. */
interface TestElectron {
  downloadAndUnzipVSCode(options: { readonly version: string; readonly cachePath: string }): Promise<string>;
  runTests(options: {
    readonly vscodeExecutablePath: string;
    readonly extensionDevelopmentPath: string;
    readonly extensionTestsPath: string;
    readonly launchArgs: readonly string[];
  }): Promise<number>;
}

/** Not a dependency of the project (it downloads VS Code from outside the npm registry): loaded only when installed. */
async function loadTestElectron(): Promise<TestElectron | undefined> {
  const specifier = '@vscode/test-electron';
  try {
    return (await import(specifier)) as TestElectron;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

/** Exit code: 0 passed, 1 a test failed, 2 the suite could not run (package missing, no download, build failed). */
export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { 'no-build': { type: 'boolean', default: false }, version: { type: 'string', default: 'stable' } } });
  const testElectron = await loadTestElectron();
  if (!testElectron) {
    console.error('test-electron: @vscode/test-electron is not installed. It is not a dependency of the project, because it downloads VS Code desktop from update.code.visualstudio.com.\n'
      + 'On a machine that can reach that site: npm i -D @vscode/test-electron, then run this again (on Linux without a display: xvfb-run -a node scripts/test-electron.ts).\n'
      + 'Where VS Code cannot be downloaded, the same suite runs through code-server: node test/vscode/run.ts --only in-host');
    return 2;
  }
  const cachePath = join(root, '.cache/vscode-test');
  let executable: string;
  try {
    executable = await testElectron.downloadAndUnzipVSCode({ version: values.version, cachePath });
  } catch (error) {
    console.error(`test-electron: could not download VS Code desktop (${values.version}) into ${cachePath}: ${error instanceof Error ? error.message : String(error)}\n`
      + 'VS Code desktop comes from update.code.visualstudio.com; where that cannot be reached, the same suite runs through code-server:\n'
      + '  bash scripts/setup-vscode-e2e.sh && node test/vscode/run.ts --only in-host');
    return 2;
  }
  if (!values['no-build']) {
    const build = spawnSync(process.execPath, ['scripts/build.ts'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) {
      console.error(`test-electron: the build failed (exit ${build.status ?? build.signal})`);
      return 2;
    }
  }
  const runDir = mkdtempSync(join(tmpdir(), 'tvr-electron-'));
  try {
    const suite = await bundleSuite(root, join(runDir, 'suite'));
    const workspace = writeWorkspace(join(runDir, 'workspace'), allFiles);
    const code = await testElectron.runTests({
      vscodeExecutablePath: executable,
      extensionDevelopmentPath: root,
      extensionTestsPath: suite,
      // Own profile and extensions folder: nothing read from or written to the user's VS Code.
      launchArgs: [workspace, '--disable-extensions', `--user-data-dir=${join(runDir, 'user-data')}`, `--extensions-dir=${join(runDir, 'extensions')}`],
    }).catch((error: unknown) => {
      console.error(`test-electron: ${error instanceof Error ? error.message : String(error)}`);
      return 1;
    });
    console.log(code === 0 ? 'test-electron: the in-host suite passed' : `test-electron: the in-host suite failed (exit ${code})`);
    return code === 0 ? 0 : 1;
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}
