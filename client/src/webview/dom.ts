// The one way the webview builds DOM: elements with attributes set by setAttribute and
// children appended as nodes or text nodes. Nothing here parses HTML, so a task or tensor
// name such as `<img src=x onerror=...>` can only ever show as text.
export type Child = Node | string | undefined | false;

export interface ElementProps {
  readonly class?: string;
  readonly attrs?: Readonly<Record<string, string>>;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: ElementProps = {}, ...children: readonly Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.class) element.className = props.class;
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value);
  for (const child of children) if (child !== undefined && child !== false) element.append(child);
  return element;
}
