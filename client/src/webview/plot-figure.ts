// Observable Plot renders SVG into a detached element; it includes a small <style> element
// of its own, which the panel's CSP would refuse without the page's nonce. Every figure
// goes through here before it is inserted.
import type * as Plot from '@observablehq/plot';

export function withNonce(figure: Plot.Plot & Element, nonce: string): Element {
  for (const style of figure.querySelectorAll('style')) style.setAttribute('nonce', nonce);
  if (figure.localName === 'style') figure.setAttribute('nonce', nonce);
  return figure;
}
