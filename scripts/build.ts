// Bundles the extension client (CommonJS, `vscode` external), the CLI/server with
// its workers (ESM, code-split so the engine loads only when a run needs it), and
// the results webview (browser IIFE). `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// ESM bundles of CommonJS dependencies need a real `require` for Node built-ins, and
// `__dirname`/`__filename` (the tfjs wasm backend locates itself with them).
const requireShim = [
  "import { createRequire as __tvrCreateRequire } from 'node:module';",
  "import { fileURLToPath as __tvrFileURLToPath } from 'node:url';",
  "import { dirname as __tvrDirname } from 'node:path';",
  'const require = __tvrCreateRequire(import.meta.url);',
  'const __filename = __tvrFileURLToPath(import.meta.url);',
  'const __dirname = __tvrDirname(__filename);',
].join(' ');

const common: esbuild.BuildOptions = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  absWorkingDir: root,
};

const builds: esbuild.BuildOptions[] = [
  {
    ...common,
    entryPoints: { client: 'client/src/extension.ts' },
    outdir: dist,
    outExtension: { '.js': '.cjs' },
    format: 'cjs',
    platform: 'node',
    target: 'node22',
    external: ['vscode'],
  },
  {
    ...common,
    // `engine`: the engine as a library (runProgram and friends), which the engine benchmark runs as users get it.
    entryPoints: workerEntries({ tvr: 'server/src/cli/main.ts', engine: 'server/src/engine/index.ts' }),
    outdir: dist,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    splitting: true,
    platform: 'node',
    target: 'node22',
    // ES module builds first: tfjs's CommonJS builds lose their named exports behind a dynamic import().
    mainFields: ['module', 'main'],
    banner: { js: `#!/usr/bin/env node\n${requireShim}` },
    // Native GPU/CPU TensorFlow bindings are optional and must be resolved at run time.
    external: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs'],
  },
  {
    ...common,
    entryPoints: { webview: 'client/src/webview/main.ts' },
    outdir: dist,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
  },
];

/** Every `*.worker.ts` under server/src becomes its own entry so `new Worker(url)` finds it beside the CLI. */
function workerEntries(entries: Record<string, string>): Record<string, string> {
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.worker.ts')) entries[entry.name.replace(/\.ts$/, '')] = rel;
    }
  };
  walk('server/src');
  return entries;
}

function copyAssets(): void {
  mkdirSync(dist, { recursive: true });
  const wasmDir = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  for (const file of readdirSync(wasmDir)) if (file.endsWith('.wasm')) cpSync(join(wasmDir, file), join(dist, file));
}

rmSync(dist, { recursive: true, force: true });
copyAssets();
// TODO(bootstrap): drop this filter once every entry exists.
const present = builds.filter((b) => Object.values(b.entryPoints as Record<string, string>).every((e) => existsSync(join(root, e))));
if (watch) {
  for (const options of present) await (await esbuild.context(options)).watch();
  console.log('watching for changes...');
} else {
  await Promise.all(present.map((options) => esbuild.build(options)));
}
