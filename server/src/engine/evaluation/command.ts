// External evaluator command templates: parsed into an argument vector without a shell,
// so a path holding spaces or quotes stays one argument and nothing is interpreted.
// Rules (docs/evaluation.md): arguments are separated by unquoted whitespace; '...'
// keeps its text literally; "..." too, except \" and \\; a backslash outside quotes
// keeps the next character. {model}, {head}, {task}, {split}, {data} are replaced
// everywhere, quoted or not; {{ and }} are literal braces.

export const PLACEHOLDERS = ['model', 'head', 'task', 'split', 'data'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** One argument: literal text and placeholders, in order. */
export type TemplateArgument = readonly (string | { readonly placeholder: Placeholder })[];

export class CommandTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandTemplateError';
  }
}

export function parseCommandTemplate(template: string): TemplateArgument[] {
  const args: TemplateArgument[] = [];
  let current: (string | { placeholder: Placeholder })[] | undefined;
  let text = '';
  const part = (): (string | { placeholder: Placeholder })[] => (current ??= []);
  const flushText = (): void => {
    if (text !== '') part().push(text);
    text = '';
  };
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (quote === "'") {
      part();
      if (c === "'") { quote = undefined; continue; }
      if (c !== '{' && c !== '}') { text += c; continue; }
    } else if (quote === '"') {
      if (c === '"') { quote = undefined; continue; }
      if (c === '\\' && (template[i + 1] === '"' || template[i + 1] === '\\')) { text += template[++i]; continue; }
    } else {
      if (/\s/.test(c)) {
        flushText();
        if (current) args.push(current);
        current = undefined;
        continue;
      }
      if (c === "'" || c === '"') { quote = c; part(); continue; }
      if (c === '\\') {
        if (i + 1 >= template.length) throw new CommandTemplateError('the command ends with a lone backslash');
        text += template[++i];
        part();
        continue;
      }
    }
    if (c === '{' || c === '}') {
      if (template[i + 1] === c) { text += c; i++; part(); continue; }
      if (c === '}') throw new CommandTemplateError(`unmatched "}" at character ${i + 1}; write }} for a literal brace`);
      const end = template.indexOf('}', i);
      const name = end < 0 ? '' : template.slice(i + 1, end);
      if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
        throw new CommandTemplateError(end < 0
          ? `unmatched "{" at character ${i + 1}; write {{ for a literal brace`
          : `unknown placeholder {${name}}; use ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}, or {{ and }} for literal braces`);
      }
      flushText();
      part().push({ placeholder: name as Placeholder });
      i = end;
      continue;
    }
    text += c;
    part();
  }
  if (quote) throw new CommandTemplateError(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  flushText();
  if (current) args.push(current);
  if (args.length === 0) throw new CommandTemplateError('the command is empty');
  return args;
}

/** The argument vector with placeholders replaced. */
export function expandCommand(args: readonly TemplateArgument[], values: Readonly<Record<Placeholder, string>>): string[] {
  return args.map((arg) => arg.map((p) => (typeof p === 'string' ? p : values[p.placeholder])).join(''));
}
