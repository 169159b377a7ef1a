// The engine's public API: run a typed program, materialise a model in memory, and
// inspect the backends (for `tvr run`, `tvr doctor`, the editor, and evaluation).
export { runProgram } from './execute.ts';
export type { RunOptions, RunResult } from './execute.ts';
export { materialize } from './materialize.ts';
export type { MaterializedTensor, MaterializeOptions } from './materialize.ts';
export { chooseBackend, doctor, listBackends, selectBackend, BACKEND_NAMES } from './backends/registry.ts';
export type { BackendChoice, BackendStatus, DoctorReport } from './backends/registry.ts';
export type { Backend, BackendName } from './backends/types.ts';
export type { RunEvent, PlannedOutput } from './events.ts';
export { EngineError } from './errors.ts';
export type { EngineErrorCode } from './errors.ts';
export { planSave, planSaves } from './plan/build.ts';
export type { SavePlan, TensorPlan } from './plan/types.ts';
export { PROVENANCE_KEYS } from './provenance.ts';
