// The results panel's HTML: one script (the bundled webview) admitted by a fresh nonce, a
// strict Content Security Policy, and nothing else. Kept free of `vscode` so the webview
// tests load exactly this page in Chromium.
import { randomBytes } from 'node:crypto';

export interface PanelHtmlOptions {
  /** `webview.cspSource`: the origin the webview's own resources are served from. */
  readonly cspSource: string;
  /** `webview.asWebviewUri(dist/webview.js)`. */
  readonly scriptUri: string;
  readonly nonce: string;
}

/** 128 bits from the system's CSPRNG, base64 (what CSP's nonce-source grammar expects). */
export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    // Styles only from the page's nonce (the webview inserts its stylesheet with it); Plot's
    // inline presentation attributes are not styles, and CSSOM assignments are allowed.
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

const htmlEscapes: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => htmlEscapes[c] ?? c);
}

export function resultsPanelHtml(options: PanelHtmlOptions): string {
  const csp = escapeHtml(contentSecurityPolicy(options.cspSource, options.nonce));
  const nonce = escapeHtml(options.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>tvr results</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${escapeHtml(options.scriptUri)}"></script>
</body>
</html>
`;
}
