// The referral slip's Print button (no inline handlers: the CSP forbids them).
// The print stylesheet (portal.css, @media print) leaves only the slip on paper.

document.getElementById("print").addEventListener("click", () => window.print());
