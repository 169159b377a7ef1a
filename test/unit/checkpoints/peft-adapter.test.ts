// adapter_config.json as PEFT reads it: defaults for absent keys, rank_pattern and
// alpha_pattern matched the way PEFT's get_pattern_key matches them, and the variants tvr
// refuses to apply named precisely.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loraConfigFacts, patternValue } from '../../../server/src/checkpoints/peft-adapter.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import { parseStrictJson } from '../../../server/src/checkpoints/strict-json.ts';

const facts = (json: string) => loraConfigFacts('/a/adapter_config.json', parseStrictJson(json, 64));

test('absent keys take PEFT LoraConfig defaults', () => {
  assert.deepEqual(facts('{}'), { r: 8, alpha: 8, rsLora: false, fanInFanOut: false, rankPattern: [], alphaPattern: [] });
  const full = facts('{"r": 16, "lora_alpha": 32.5, "use_rslora": true, "fan_in_fan_out": true, "target_modules": "q_proj|v_proj", "base_model_name_or_path": "meta/llama"}');
  assert.deepEqual(full, { r: 16, alpha: 32.5, rsLora: true, fanInFanOut: true, targetModules: 'q_proj|v_proj', rankPattern: [], alphaPattern: [], baseModel: 'meta/llama' });
});

test('a pattern matches the whole module name or a dotted suffix, the first key in the file winning', () => {
  const table: [readonly (readonly [string, number])[], string, number | undefined][] = [
    [[['v_proj', 2]], 'model.layers.0.self_attn.v_proj', 2],
    [[['v_proj', 2]], 'model.layers.0.self_attn.xv_proj', undefined],
    [[['v_proj', 2]], 'v_proj', 2],
    [[['q_proj', 4], ['self_attn.q_proj', 8]], 'model.layers.3.self_attn.q_proj', 4],
    [[['layers\\.[01]\\.self_attn\\.q_proj', 4]], 'model.layers.1.self_attn.q_proj', 4],
    [[['layers\\.[01]\\.self_attn\\.q_proj', 4]], 'model.layers.2.self_attn.q_proj', undefined],
    [[['(', 1], ['q_proj', 3]], 'a.q_proj', 3],
  ];
  for (const [patterns, module, want] of table) assert.equal(patternValue(patterns, module), want, `${JSON.stringify(patterns)} on ${module}`);
  assert.deepEqual(facts('{"rank_pattern": {"b": 2, "a": 4}}').rankPattern, [['b', 2], ['a', 4]], 'the file order is kept');
});

test('malformed values are bad-config errors naming the key', () => {
  for (const [json, key] of [['{"r": 0}', '"r"'], ['{"r": "8"}', '"r"'], ['{"lora_alpha": "16"}', '"lora_alpha"'], ['{"rank_pattern": {"q": 1.5}}', '"rank_pattern"'], ['{"target_modules": 3}', '"target_modules"'], ['[]', 'must be a JSON object']]) {
    assert.throws(() => facts(json), (e: unknown) => e instanceof CheckpointError && e.code === 'bad-config' && e.message.includes(key), json);
  }
});

test('variants that are not W + scale · B·A are refused, each named', () => {
  const table: [string, string | undefined][] = [
    ['{"use_dora": true}', 'DoRA'],
    ['{"use_dora": false, "bias": "none", "init_lora_weights": "gaussian", "modules_to_save": null}', undefined],
    ['{"peft_type": "ADALORA"}', 'peft_type is "ADALORA"'],
    ['{"bias": "lora_only"}', 'bias is "lora_only"'],
    ['{"lora_bias": true}', 'lora_bias'],
    ['{"modules_to_save": ["score"]}', 'modules_to_save'],
    ['{"init_lora_weights": "pissa_niter_4"}', 'changes the base model\'s weights'],
    ['{"layer_replication": [[0, 4]]}', 'layer_replication'],
  ];
  for (const [json, refusal] of table) {
    const refused = facts(json).refused;
    if (refusal === undefined) assert.equal(refused, undefined, json);
    else assert.ok(refused?.includes(refusal), `${json}: ${refused}`);
  }
});
