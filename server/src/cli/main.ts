// The `tvr` command line: check, inspect, run, eval, import, export, doctor, lsp.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXECUTORS, type Executor } from '../run/executor.ts';
import { CheckpointError } from '../checkpoints/types.ts';
import { startLanguageServer } from '../lsp/server.ts';
import { checkCommand } from './check.ts';
import { inspectCommand } from './inspect.ts';
import { tvrVersion } from '../version.ts';
import { visibleControls } from '../display-text.ts';

function program(): Command {
  const cli = new Command('tvr')
    .description('Model-edit recipes: check, inspect and run task-vector weight arithmetic (.tvr files)')
    .version(tvrVersion)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`tvr: ${text.replace(/^error: /, '')}`) });

  cli.command('check')
    .description('check recipes: syntax, names, types, shapes and files; exit 1 when there are errors')
    .argument('<files...>', '.tvr recipes')
    .option('--json', 'print diagnostics as a JSON array with zero-based LSP ranges')
    .option('--allow-outputs-outside', "accept saves that write outside the recipe's folder")
    .action(async (files: string[], options: { json?: boolean; allowOutputsOutside?: boolean }) => {
      process.exitCode = await checkCommand(files, { json: options.json === true, allowOutputsOutside: options.allowOutputsOutside === true });
    });

  cli.command('inspect')
    .description('list the tensors of a checkpoint; with a second checkpoint, the norms of the difference')
    .argument('<checkpoint>', '.safetensors, model.safetensors.index.json, or a TensorFlow.js model.json (or its folder)')
    .argument('[other]', 'a second checkpoint: show norms of checkpoint - other per tensor')
    .option('--norms', 'also compute the L2 norm of every tensor (reads all data)')
    .option('--json', 'print JSON')
    .action(async (path: string, other: string | undefined, options: { json?: boolean; norms?: boolean }) => {
      process.exitCode = await inspectCommand(path, other, { json: options.json === true, norms: options.norms === true });
    });

  cli.command('run')
    .description('run a recipe: evaluate its models (choosing sweep values on validation data), write its saves and a results file')
    .argument('<recipe>', 'the .tvr recipe')
    .option('--out <dir>', 'write outputs and the results file under this folder instead of beside the recipe')
    .option('--backend <name>', 'auto, gpu, cpu, webgpu (networks on WebGPU, merges on the CPU), or an engine backend by name (see tvr doctor)', 'auto')
    .option('--json', 'print JSON lines (one event per line) on stdout instead of a progress bar and a table')
    .option('--untrusted', 'the workspace is not trusted: refuse tasks that run an external evaluator command')
    .option('--no-cache', 'evaluate everything again, ignoring and not writing the results cache (.tvr-cache/)')
    .option('--force', 'replace existing outputs even where a save does not say overwrite=true')
    .option('--allow-outputs-outside', "let saves write outside the recipe's folder (or the --out folder); refused with --untrusted")
    .option('--sync', 'fsync each output before it is moved into place, so it survives a power loss (slower)')
    .option('--eval-timeout <seconds>', 'time limit of one external evaluator run', positiveNumber, 600)
    .option('--batch-size <n>', 'examples per batch of the built-in evaluator', positiveInteger)
    .option('-j, --jobs <n>', 'evaluations at once: sweep points and references side by side, external commands or cluster jobs as N processes', positiveInteger, 1)
    .addOption(new Option('--executor <name>', 'where evaluations run: here, or each as a Slurm job (needs --shared-dir)').choices(EXECUTORS).default('local'))
    .option('--shared-dir <dir>', 'with --executor slurm: a folder every node can read and write, for the models evaluated and the jobs\' logs')
    .option('--slurm-args <options>', 'with --executor slurm: sbatch options for every job, e.g. "--gres=gpu:1 --time=30"', '')
    .action(async (recipe: string, options: { out?: string; backend: string; json?: boolean; untrusted?: boolean; cache: boolean; force?: boolean; allowOutputsOutside?: boolean; sync?: boolean; evalTimeout: number; batchSize?: number; jobs: number; executor: Executor['kind']; sharedDir?: string; slurmArgs: string }) => {
      // Loaded on demand: the engine and TensorFlow.js would slow every other command's start.
      const { runCommand } = await import('./run.ts');
      process.exitCode = await runCommand(recipe, {
        ...(options.out !== undefined ? { out: options.out } : {}),
        backend: options.backend,
        json: options.json === true,
        untrusted: options.untrusted === true,
        cache: options.cache,
        force: options.force === true,
        allowOutputsOutside: options.allowOutputsOutside === true,
        sync: options.sync === true,
        evalTimeout: options.evalTimeout,
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        jobs: options.jobs,
        executor: options.executor,
        ...(options.sharedDir !== undefined ? { sharedDir: options.sharedDir } : {}),
        slurmArgs: options.slurmArgs,
      });
    });

  cli.command('eval')
    .description('evaluate one checkpoint on one task of a recipe and print its metrics as JSON (what a cluster node runs for tvr run --executor slurm)')
    .argument('<recipe>', 'the .tvr recipe that defines the task')
    .requiredOption('--task <name>', 'the task, by the name the results give it')
    .requiredOption('--model <checkpoint>', 'the checkpoint or model folder to evaluate, as load(...) takes it')
    .addOption(new Option('--split <split>', 'the data split').choices(['validation', 'test']).default('validation'))
    .option('--backend <name>', 'auto, gpu, cpu, webgpu, or an engine backend by name', 'auto')
    .option('--batch-size <n>', 'examples per batch of the built-in evaluator', positiveInteger)
    .action(async (recipe: string, options: { task: string; model: string; split: 'validation' | 'test'; backend: string; batchSize?: number }) => {
      const { evalCommand } = await import('./eval.ts');
      process.exitCode = await evalCommand(recipe, options);
    });

  const importCli = cli.command('import').description('write a recipe equivalent to another tool\'s configuration');
  importCli.command('mergekit')
    .description('import a mergekit YAML configuration; keys with no exact tvr equivalent are reported and, without --allow-partial, nothing is written (exit 1)')
    .argument('<config>', 'the mergekit configuration (.yml)')
    .option('-o, --out <recipe>', 'the recipe to write (default: the configuration\'s name with .tvr, beside it)')
    .option('--allow-partial', 'write the recipe even when keys were not imported, with a comment for each')
    .action(async (config: string, options: { out?: string; allowPartial?: boolean }) => {
      const { importMergekitCommand } = await import('./import.ts');
      process.exitCode = await importMergekitCommand(config, { ...(options.out !== undefined ? { out: options.out } : {}), allowPartial: options.allowPartial === true });
    });

  const exportCli = cli.command('export').description('write another tool\'s configuration equivalent to a recipe');
  exportCli.command('mergekit')
    .description('write the mergekit configuration of a recipe\'s saved merge; statements mergekit cannot express are reported and, without --allow-partial, nothing is written (exit 1)')
    .argument('<recipe>', 'the .tvr recipe')
    .option('-o, --out <config>', 'the configuration to write (default: the recipe\'s name with .yml, beside it)')
    .option('--allow-partial', 'write the configuration even when statements were not exported exactly, with a comment for each')
    .action(async (recipe: string, options: { out?: string; allowPartial?: boolean }) => {
      const { exportMergekitCommand } = await import('./export.ts');
      process.exitCode = await exportMergekitCommand(recipe, { ...(options.out !== undefined ? { out: options.out } : {}), allowPartial: options.allowPartial === true });
    });

  cli.command('doctor')
    .description('list the compute backends, whether each is usable and why not, the Node version, and the GPU package')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { doctorCommand } = await import('./doctor.ts');
      process.exitCode = await doctorCommand({ json: options.json === true });
    });

  cli.command('lsp')
    .description('start the language server (for any LSP editor)')
    .option('--stdio', 'talk LSP over stdin/stdout')
    .option('--node-ipc', 'talk LSP over Node IPC (VS Code)')
    .option('--socket <port>', 'talk LSP over a socket')
    // Clients add their own flags (VS Code: --clientProcessId=<pid>); the connection reads them.
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      startLanguageServer({ version: tvrVersion, cli: process.argv[1]! });
    });

  return cli;
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!(Number.isFinite(value) && value > 0)) throw new InvalidArgumentError(`expected a positive number, got "${text}"`);
  return value;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!(Number.isSafeInteger(value) && value > 0)) throw new InvalidArgumentError(`expected a positive integer, got "${text}"`);
  return value;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await program().parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    if (error instanceof CheckpointError) {
      process.stderr.write(`tvr: ${visibleControls(error.message)}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`tvr: internal error: ${(error as Error).stack ?? error}\n`);
    process.exitCode = 70;
  }
}

await main(process.argv);
