import { install } from './core';
import type { Stub } from './wire';

declare global {
  interface Window {
    webevents?: Stub;
  }
}

// The entry of the built script. The snippet:
//   <script async src="https://COLLECTOR/t.js" data-source="PUBLIC_KEY"></script>
// Nothing may throw into the page: install wraps every entry point, and this wraps install.
try {
  const script = document.currentScript;
  if (script instanceof HTMLScriptElement) install(window, script);
} catch {
  // never into the page
}
