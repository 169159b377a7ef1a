// External evaluator command templates: argument splitting, quoting and placeholders.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandCommand, parseCommandTemplate } from '../../../server/src/engine/evaluation/command.ts';

const values = { model: '/tmp/my model.safetensors', head: '/h/model.json', task: 'digits', split: 'validation', data: '/d/data.safetensors' };

const cases: { template: string; argv: string[] }[] = [
  { template: 'python eval.py {model}', argv: ['python', 'eval.py', '/tmp/my model.safetensors'] },
  { template: '  python   eval.py\t--split={split}  ', argv: ['python', 'eval.py', '--split=validation'] },
  { template: 'eval --task "{task} set" --data={data}', argv: ['eval', '--task', 'digits set', '--data=/d/data.safetensors'] },
  { template: "eval '$HOME;rm -rf x' \"a\\\"b\"", argv: ['eval', '$HOME;rm -rf x', 'a"b'] },
  { template: "eval '{model}'", argv: ['eval', '/tmp/my model.safetensors'] },
  { template: 'eval a\\ b c\\\\d', argv: ['eval', 'a b', 'c\\d'] },
  { template: 'eval "" x', argv: ['eval', '', 'x'] },
  { template: 'eval {{literal}} \'--json={{"a":1}}\' --x={{"a":1}}', argv: ['eval', '{literal}', '--json={"a":1}', '--x={a:1}'] },
  { template: 'eval --head {head} {task}/{split}', argv: ['eval', '--head', '/h/model.json', 'digits/validation'] },
  { template: 'eval `whoami` $(id) | cat > out', argv: ['eval', '`whoami`', '$(id)', '|', 'cat', '>', 'out'] },
];

const errors: { template: string; message: RegExp }[] = [
  { template: '', message: /the command is empty/ },
  { template: '   ', message: /the command is empty/ },
  { template: 'eval "open', message: /unterminated double quote/ },
  { template: "eval 'open", message: /unterminated single quote/ },
  { template: 'eval {modle}', message: /unknown placeholder \{modle\}; use \{model\}/ },
  { template: 'eval {model', message: /unmatched "\{" at character 6/ },
  { template: 'eval model}', message: /unmatched "\}" at character 11/ },
  { template: 'eval \\', message: /lone backslash/ },
];

describe('command templates', () => {
  for (const c of cases) {
    it(`${c.template} -> ${JSON.stringify(c.argv)}`, () => {
      assert.deepEqual(expandCommand(parseCommandTemplate(c.template), values), c.argv);
    });
  }
  for (const e of errors) {
    it(`refuses ${JSON.stringify(e.template)}`, () => {
      assert.throws(() => parseCommandTemplate(e.template), e.message);
    });
  }
});
