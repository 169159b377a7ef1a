// Optional packages (the native TensorFlow bindings, Dawn's WebGPU) are code, so they load only from tvr's
// own installation: never from the recipe's folder or the working directory, which an
// untrusted workspace controls (docs/security.md).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder tvr is installed in: the nearest folder above this module whose package.json names tvr. */
function tvrInstallation(): string {
  const from = fileURLToPath(import.meta.url);
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (namesTvr(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`tvr's installation (a package.json named "tvr") was not found above ${from}`);
  }
}

function namesTvr(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'tvr';
  } catch {
    return false;
  }
}

let installationForTests: string | undefined;
/** tvrInstallation(), found once: it reads the package.json files above this module. */
let found: string | undefined;

/**
 * Tests only (in-process): treat `dir` as tvr's installation, so a stand-in package can be
 * installed in a temporary folder instead of the real node_modules; undefined restores it.
 */
export function useInstallationForTests(dir: string | undefined): void {
  installationForTests = dir;
}

function installation(): string {
  return installationForTests ?? (found ??= tvrInstallation());
}

/** Where an optional package sits in tvr's own node_modules, or undefined when it is not installed there. */
export function ownPackageDir(pkg: string): string | undefined {
  const dir = join(installation(), 'node_modules', pkg);
  return existsSync(join(dir, 'package.json')) ? dir : undefined;
}

/** Why an optional package may be missing from tvr's folder. */
const WHY_ABSENT: Readonly<Record<string, string>> = {
  webgpu: 'npm leaves optional dependencies out under --omit=optional',
  default: 'its install downloads libtensorflow, which needs network access',
};

export type OptionalLoad = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * Loads an optional package from tvr's own node_modules by absolute path (a bare name would
 * make Node search node_modules folders above the caller); a failure is a reason, not a crash.
 */
export function loadOwnPackage(pkg: string): OptionalLoad {
  const dir = ownPackageDir(pkg);
  if (!dir) {
    return { ok: false, reason: `${pkg} is not installed in tvr's folder ${installation()} (an optional dependency; ${WHY_ABSENT[pkg] ?? WHY_ABSENT.default}; packages in the recipe's folder or the working directory are never loaded)` };
  }
  try {
    return { ok: true, value: createRequire(join(dir, 'package.json'))(dir) };
  } catch (error) {
    return { ok: false, reason: `${pkg} is installed (${dir}) but failed to load: ${error instanceof Error ? error.message : String(error)}` };
  }
}
