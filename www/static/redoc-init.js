// redoc-init.js: starts ReDoc on /redoc with this site's /openapi.json (telemetry off, nothing loaded from elsewhere).
// ReDoc 3 is an ES module (there is no window.Redoc), so redoc.html loads this file with <script type="module">.
import { init } from '/static/vendor/redoc/redoc.standalone.js';

const bar = document.querySelector('nav.doclinks');

init('/openapi.json', {
  // ReDoc 3 sends usage data to otel.cloud.redocly.com unless told not to (the CSP would block it anyway).
  disableTelemetry: true,
  // The page's sticky link bar: ReDoc keeps its sidebar and scrolled-to headings below it.
  scrollYOffset: () => (bar ? bar.offsetHeight : 0),
  sortRequiredPropsFirst: true
}, document.getElementById('redoc-container'));
