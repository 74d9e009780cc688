/* DOM helpers: a getElementById shorthand and an element builder that puts strings in as text, never as HTML. */

export const $ = (id) => document.getElementById(id);

/**
 * Build an element. attrs: `class`, `text` (textContent), `on<event>` handlers, `hidden`, anything else becomes an
 * attribute. Children: nodes or strings (strings become text nodes, never HTML).
 */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = String(v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}
