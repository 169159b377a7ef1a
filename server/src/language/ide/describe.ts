// Human descriptions of values for hover and completion: what the headers tell
// (tensors, parameters, dtypes, sizes), and, for vectors, norms and similarities.
import type { HfModelConfig } from '../../checkpoints/types.ts';
import type { Analysis } from '../analysis.ts';
import type { Binding } from '../names.ts';
import * as P from '../poly.ts';
import { nodeInputs, type PosteriorValue, type TensorTable, type WeightNode } from '../program.ts';
import { isFloat } from '../shapes.ts';
import { isWeights, typeName, type Value } from '../values.ts';
import { isMethodNode, methodOf } from '../../methods/registry.ts';
import { markdown, type Markup } from './markup.ts';
import { cosineSimilarity, vectorBindingFor, vectorBindings, vectorStats, type StatsGroup, type StatsSource } from './vector-stats.ts';

export interface DescribeEnvironment {
  readonly stats?: StatsSource;
  readonly statsGroups?: readonly StatsGroup[];
  /** How the description is written (default Markdown). */
  readonly markup?: Markup;
}

export function describeValueShort(value: Value | undefined): string | undefined {
  if (!value) return undefined;
  if (isWeights(value)) return tableSummary(value.node.table);
  if (value.type === 'scalar') return scalarSummary(value.poly);
  if (value.type === 'task') return `task on ${value.task.data.replace(/^.*\//, '')}, metric ${value.task.metric}`;
  if (value.type === 'ensemble') return `ensemble of ${value.ensemble.members.length} models`;
  if (value.type === 'posterior') return `posterior over ${value.posterior.members.length} models on ${value.posterior.task.name}`;
  return undefined;
}

export function describeBinding(analysis: Analysis, binding: Binding, env: DescribeEnvironment): string {
  const m = env.markup ?? markdown;
  const value = analysis.checked.values.get(binding);
  const type = value ? typeName(value) : 'unknown';
  const source = analysis.text.slice(binding.statement.value.start, binding.statement.value.end).replace(/\s+/g, ' ');
  const lines = [`${m.strong(binding.name)}: ${type}`, m.block(`${binding.name} = ${source.length > 120 ? `${source.slice(0, 117)}...` : source}`, 'tvr')];
  if (!value) return lines.join('\n\n');
  if (isWeights(value)) {
    lines.push(modelFacts(value.node, m));
    const sweeps = [...value.sweeps].filter((id) => !posteriorOf(analysis, id));
    if (sweeps.length > 0) lines.push(`Depends on the sweep ${sweeps.map((id) => sweepName(analysis, id)).join(', ')}: evaluated at each point, chosen on validation data.`);
    const posteriors = [...new Set([...value.sweeps].flatMap((id) => posteriorOf(analysis, id) ?? []))];
    if (posteriors.length > 0) lines.push(`Weighted by the posterior ${posteriors.map((p) => m.strong(p.name)).join(', ')}: estimated when the recipe runs (uniform until then).`);
    if (value.type === 'vector') lines.push(...vectorFacts(analysis, binding, env, m));
  } else if (value.type === 'scalar') {
    lines.push(scalarDetail(analysis, value.poly, m));
  } else if (value.type === 'task') {
    const t = value.task;
    lines.push(m.lines([
      `Data: ${m.code(t.data)}`,
      `Metric: ${t.metric}`,
      `Head from: ${t.head.name ?? 'a model'}`,
      ...(t.finetuned !== t.head ? [`Fine-tuned reference: ${t.finetuned.name ?? 'a model'}`] : []),
      ...(t.command ? [`External evaluator: ${m.code(t.command)}`] : []),
    ]));
  } else if (value.type === 'ensemble') {
    const { members, weights } = value.ensemble;
    const k = members.length;
    lines.push(m.lines([
      `Models: ${members.map((n) => memberLabel(analysis, n, m)).join(', ')}`,
      `Weights: ${Array.isArray(weights) ? weights.map((w) => P.formatNumber(w)).join(', ') : `the posterior ${(weights as PosteriorValue).name}, estimated when the recipe runs`}`,
      `Cost: ${k} forward passes per token (each model reads the text; their next-token probabilities are mixed)`,
      'Evaluated on causal LM text tasks by perplexity or loss; it has no weights of its own, so it is never saved or combined: mean(...) of its models is one Model.',
    ]));
  } else if (value.type === 'posterior') {
    const p = value.posterior;
    lines.push(m.lines([
      `Models: ${p.members.map((n) => memberLabel(analysis, n, m)).join(', ')}`,
      `Estimated on: the first ${p.documents} validation document${p.documents === 1 ? '' : 's'} of task ${p.task.name}, by Bayes' rule (uniform prior times each model's likelihood of the document), averaged over the documents${p.topk !== undefined ? `; the ${p.topk} largest kept and renormalised` : ''}`,
      `Costs ${p.members.length} forward passes over those documents, once per run (cached across runs); the weights are in the results.`,
    ]));
  } else if (value.type === 'string') {
    lines.push(m.code(JSON.stringify(value.value)));
  }
  return lines.join('\n\n');
}

/** A member of an ensemble or a posterior: its name, or the expression it is written as (as code: it may hold `*`). */
function memberLabel(analysis: Analysis, node: WeightNode, m: Markup): string {
  if (node.name) return node.name;
  const text = analysis.text.slice(analysis.lines.offset(node.range.start), analysis.lines.offset(node.range.end)).replace(/\s+/g, ' ');
  return m.code(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

function posteriorOf(analysis: Analysis, id: number): PosteriorValue | undefined {
  const posterior = analysis.checked.program.sweeps.find((s) => s.id === id)?.posterior;
  return posterior === undefined ? undefined : analysis.checked.program.posteriors.find((p) => p.id === posterior);
}

function sweepName(analysis: Analysis, id: number): string {
  return analysis.checked.program.sweeps.find((s) => s.id === id)?.name ?? String(id);
}

function scalarSummary(poly: P.Poly): string {
  const c = P.asConstant(poly);
  return c !== undefined ? P.formatNumber(c) : 'a sweep';
}

function scalarDetail(analysis: Analysis, poly: P.Poly, m: Markup): string {
  const c = P.asConstant(poly);
  if (c !== undefined) return `= ${P.formatNumber(c)}`;
  const ids = P.sweepIds(poly);
  return ids.map((id) => {
    const s = analysis.checked.program.sweeps.find((x) => x.id === id);
    if (!s) return '';
    const v = s.values;
    return `Sweep ${m.strong(s.name)}: ${v.length} value${v.length === 1 ? '' : 's'} (${v.length > 6 ? `${v.slice(0, 3).join(', ')}, ..., ${v[v.length - 1]}` : v.join(', ')}), evaluated on the validation split.`;
  }).join('\n\n');
}

function tableSummary(table: TensorTable | undefined): string {
  if (!table) return 'tensors unknown (the checkpoint could not be read)';
  let parameters = 0;
  const dtypes = new Map<string, number>();
  for (const spec of table.values()) {
    if (isFloat(spec.dtype)) parameters += spec.shape.reduce((a, b) => a * b, 1);
    dtypes.set(spec.dtype, (dtypes.get(spec.dtype) ?? 0) + 1);
  }
  const dtypeText = [...dtypes].map(([d, n]) => `${d} x${n}`).join(', ');
  return `${table.size} tensor${table.size === 1 ? '' : 's'}, ${formatCount(parameters)} parameters (${dtypeText})`;
}

function modelFacts(node: WeightNode, m: Markup): string {
  const facts = [tableSummary(node.table), ...untiedHeadFacts(node, m), ...(isMethodNode(node) ? (methodOf(node).facts?.(node) ?? []).map((f) => m.text(f)) : [])];
  const load = rootLoad(node);
  if (load?.header && load === node) {
    const bytes = load.header.files.reduce((a, f) => a + f.size, 0);
    facts.push(`${formatFormat(load.header.format)}, ${formatBytes(bytes)}${load.header.files.length > 1 ? ` in ${load.header.files.length} files` : ''}: ${m.code(load.path)}`);
    if (load.header.hfConfig) facts.push(...hfConfigFacts(load.header.hfConfig, m));
  }
  return m.lines(facts);
}

/** What a Hugging Face model folder's config.json says, every string from the file in a code span. */
function hfConfigFacts(config: HfModelConfig, m: Markup): string[] {
  const family = [
    config.modelType !== undefined ? `model_type ${m.code(config.modelType)}` : 'no model_type',
    ...(config.architectures.length > 0 ? [`architectures ${config.architectures.slice(0, 3).map((a) => m.code(a)).join(', ')}${config.architectures.length > 3 ? ` and ${config.architectures.length - 3} more` : ''}`] : []),
  ].join(', ');
  const sizes = [
    config.layers !== undefined ? `${config.layers} layer${config.layers === 1 ? '' : 's'}` : undefined,
    config.hiddenSize !== undefined ? `hidden size ${config.hiddenSize}` : undefined,
    config.vocabSize !== undefined ? `vocabulary ${config.vocabSize}` : undefined,
    config.torchDtype !== undefined ? `torch_dtype ${m.code(config.torchDtype)}` : undefined,
  ].filter((x) => x !== undefined);
  const head = config.tieWordEmbeddings
    ? `output head tied to the embedding (${config.tieStated ? 'tie_word_embeddings: true' : "the family's default"}): no lm_head.weight is stored`
    : `own output head (${config.tieStated ? 'tie_word_embeddings: false' : "the family's default"})`;
  const files = [
    config.hasTokenizer ? `tokenizer.json${config.vocabulary ? ` (${formatCount(config.vocabulary.length)} tokens)` : ''}` : 'no tokenizer.json',
    config.hasGenerationConfig ? 'generation_config.json' : 'no generation_config.json',
  ].join(', ');
  return [`Hugging Face model folder: ${family}`, ...(sizes.length > 0 ? [sizes.join(', ')] : []), head, files];
}

/** Where a value combines tied models with untied ones: its head is untied, and which embeddings stand for heads. */
function untiedHeadFacts(root: WeightNode, m: Markup): string[] {
  const untied: { head: string; embedding: string; of: string }[] = [];
  const seen = new Set<WeightNode>();
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    if (node.op === 'select' && node.untie) untied.push({ ...node.untie, of: node.input.name ?? rootLoad(node.input)?.name ?? 'a tied model' });
    stack.push(...nodeInputs(node));
  }
  if (untied.length === 0) return [];
  const sources = [...new Set(untied.map((u) => `${m.code(u.embedding)} of ${m.text(u.of)}`))];
  return [`Output head untied: ${m.code(untied[0]!.head)} combines the untied models' heads with ${sources.slice(0, 3).join(', ')}${sources.length > 3 ? ` and ${sources.length - 3} more` : ''} (tied: their head is their embedding); a save writes tie_word_embeddings: false`];
}

function rootLoad(node: WeightNode): Extract<WeightNode, { op: 'load' }> | undefined {
  if (node.op === 'load') return node;
  if (node.op === 'select') return rootLoad(node.input);
  return undefined;
}

function vectorFacts(analysis: Analysis, binding: Binding, env: DescribeEnvironment, m: Markup): string[] {
  const vector = vectorBindingFor(analysis, binding);
  if (!vector || !env.stats || !env.statsGroups) return [];
  const stats = vectorStats(vector, env.statsGroups, env.stats);
  if (stats.status === 'computing') {
    return [`L2 norm: being computed (${Math.round(stats.fraction * 100)}%), streaming the checkpoints in the background.`];
  }
  if (stats.status === 'unavailable') return [`L2 norm: not available: ${m.text(stats.reason)}.`];
  const { norm, tensors, parameters } = stats.value;
  const nonFinite = tensors.filter((t) => !Number.isFinite(t.norm));
  const out = [Number.isFinite(norm)
    ? `${m.strong(`L2 norm ${formatNumber(norm)}`)} over ${formatCount(parameters)} parameters`
    : `${m.strong('L2 norm not finite')} over ${formatCount(parameters)} parameters: ${nonFinite.length === 0 ? 'the sum of squares overflows' : `NaN or infinite values in ${nonFinite.slice(0, 3).map((t) => m.code(t.name)).join(', ')}${nonFinite.length > 3 ? ` and ${nonFinite.length - 3} more` : ''}`}`];
  const shown = tensors.slice(0, 5).map((t) => [m.code(t.name, 'table-cell'), formatNumber(t.norm), formatCount(t.elements)]);
  if (shown.length > 0) {
    out.push(m.table(['tensor (largest first)', 'norm', 'elements'], [...shown, ...(tensors.length > 5 ? [[`... ${tensors.length - 5} more`, '', '']] : [])], ['left', 'right', 'right']));
  }
  const others = vectorBindings(analysis).filter((v) => v.binding !== binding);
  const similarities = others.flatMap((other) => {
    const s = cosineSimilarity(vector, other, env.statsGroups!, env.stats!);
    return s.status === 'ready' ? [`${other.binding.name} ${s.value.toFixed(3)}`] : [];
  });
  if (similarities.length > 0) out.push(`Cosine similarity: ${similarities.join(', ')}`);
  return out;
}

export function formatNumber(x: number): string {
  if (x === 0) return '0';
  return Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3 ? x.toExponential(3) : x.toPrecision(4);
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function formatFormat(format: string): string {
  return { 'safetensors': 'safetensors', 'safetensors-sharded': 'sharded safetensors', 'tfjs-layers': 'TensorFlow.js LayersModel' }[format] ?? format;
}
