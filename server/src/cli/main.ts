// The `tvr` command line: check, inspect, run, doctor, lsp.
import { Command, CommanderError } from 'commander';
import { CheckpointError } from '../checkpoints/types.ts';
import { startLanguageServer } from '../lsp/server.ts';
import { checkCommand } from './check.ts';
import { inspectCommand } from './inspect.ts';
import { tvrVersion } from './version.ts';

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
    .action(async (files: string[], options: { json?: boolean }) => {
      process.exitCode = await checkCommand(files, { json: options.json === true });
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

  cli.command('lsp')
    .description('start the language server (for any LSP editor)')
    .option('--stdio', 'talk LSP over stdin/stdout')
    .option('--node-ipc', 'talk LSP over Node IPC (VS Code)')
    .option('--socket <port>', 'talk LSP over a socket')
    .allowUnknownOption()
    .action(() => {
      startLanguageServer({ version: tvrVersion });
    });

  return cli;
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
      process.stderr.write(`tvr: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`tvr: internal error: ${(error as Error).stack ?? error}\n`);
    process.exitCode = 70;
  }
}

await main(process.argv);
