// Tests that need a WebGPU adapter. CI installs one (Mesa's lavapipe, a software Vulkan:
// scripts/setup-vulkan.sh), so there a missing adapter fails the suite; on a developer
// machine without Vulkan the suite is skipped, loudly.
import { probeWebGpu } from '../../server/src/engine/evaluation/webgpu.ts';
import type { AdapterSummary } from '../../server/src/engine/evaluation/webgpu.ts';

export interface WebGpuForTests {
  readonly adapter?: AdapterSummary;
  /** The `skip` option of the tests that need the adapter: false where they must run. */
  readonly skip: string | false;
  /** Why there is no adapter. */
  readonly reason?: string;
}

export async function webGpuForTests(suite: string): Promise<WebGpuForTests> {
  const probe = await probeWebGpu();
  if (probe.ok) return { adapter: probe.adapter, skip: false };
  if (process.env.CI) return { skip: false, reason: probe.reason };
  process.stderr.write(`\n!!! ${suite}: SKIPPED, no WebGPU adapter here: ${probe.reason}\n!!! Install one with: sudo bash scripts/setup-vulkan.sh (under CI=true these tests fail instead)\n\n`);
  return { skip: `no WebGPU adapter: ${probe.reason}`, reason: probe.reason };
}
