// On every page: Quick exit (button and Esc key), and moving between portal
// pages without adding to the browser's back history.
//
// Quick exit blanks the page at once, then replaces the current history entry
// with a neutral site, so Back does not return here. Portal links also replace
// the entry instead of adding one: the whole visit is a single history entry,
// and Quick exit removes it. Earlier entries (how the person got here) are out
// of any page's reach; the note on the start page says so.

const exitLink = document.getElementById("quick-exit");

export function quickExit(event) {
  event?.preventDefault();
  const target = exitLink.href;
  document.title = "";
  document.body.replaceChildren();
  location.replace(target);
}

exitLink.addEventListener("click", quickExit);

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !event.defaultPrevented) quickExit(event);
});

document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[data-nav]");
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  location.replace(link.href);
});

// A page restored from the back-forward cache could still show a PIN: reload it
// (our pages are no-store, which already keeps most browsers from caching them).
window.addEventListener("pageshow", (event) => {
  if (event.persisted) location.reload();
});
