// Building elements without innerHTML: the CSP requires Trusted Types for any
// HTML string, and text set with textContent can never become markup.

/** el("p", {className: "hint", text: "..."}, child, ...) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, v);
    else node[name] = value;
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Show `node`'s message, or hide it when `message` is empty. */
export function say(node, message) {
  node.textContent = message ?? "";
  node.hidden = !message;
}

/** Move keyboard and screen-reader focus to a heading after a step changes, and
 * scroll it just below the sticky header (which would otherwise cover it on a phone). */
export function focusHeading(node) {
  node.focus({ preventScroll: true });
  const header = document.querySelector("header.top");
  const covered = header ? header.getBoundingClientRect().bottom : 0;
  const top = node.getBoundingClientRect().top + window.scrollY - covered - 8;
  window.scrollTo({ top: Math.max(0, top), behavior: "instant" });
}
