// Runs the in-extension-host suite (test/vscode/suite/) in VS Code desktop through
// @vscode/test-electron, on machines that can download VS Code:
//
//   npm i -D @vscode/test-electron        # not a project dependency: it downloads VS Code
//   node scripts/test-electron.ts [--no-build] [--version stable|insiders|1.139.1]
//
// Exit code 0 passed, 1 failed, 2 could not run (with the reason). See docs/testing-vscode.md.
// The runner lives with the suite, in the test project (test/vscode/electron.ts).
const { main } = (await import(new URL('../test/vscode/electron.ts', import.meta.url).href)) as { main(argv: readonly string[]): Promise<number> };
process.exitCode = await main(process.argv.slice(2));
