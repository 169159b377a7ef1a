// Entry point VS Code loads as `extensionTestsPath` (bundled to CommonJS by in-host.ts):
// runs the mocha suite inside the extension host, against the real `vscode` API.
import Mocha from 'mocha';
import { suiteBanner } from './banner.ts';

export async function run(): Promise<void> {
  console.log(suiteBanner);
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 30_000 });
  // The test files are bundled in, so define mocha's globals before they load.
  mocha.suite.emit('pre-require', globalThis, 'in-host', mocha);
  await import('./extension.test.ts');
  await import('./language-features.test.ts');
  const failures = await new Promise<number>((resolve) => mocha.run(resolve));
  if (failures > 0) throw new Error(`${failures} in-host test(s) failed`);
}
