// The CSP requires Trusted Types, so no string can become HTML or script by
// accident. The one thing the portal needs is to start its hashing workers: this
// default policy lets through script URLs from this site only, and nothing else
// (no HTML, no script text). Import it before anything that creates a Worker.

if (globalThis.trustedTypes?.createPolicy && !globalThis.trustedTypes.defaultPolicy) {
  globalThis.trustedTypes.createPolicy("default", {
    createScriptURL(url) {
      const parsed = new URL(url, location.href);
      if (parsed.origin !== location.origin) throw new TypeError(`script from another site refused: ${url}`);
      return parsed.href;
    },
  });
}
