// docs-init.js: starts Swagger UI on /docs with this site's /openapi.json (no online validator, nothing from elsewhere).
/* global SwaggerUIBundle */
'use strict';

window.addEventListener('DOMContentLoaded', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    // BaseLayout and no standalone preset: no top bar, whose box loads a description from any URL.
    layout: 'BaseLayout',
    presets: [SwaggerUIBundle.presets.apis],
    // null: never send the description to validator.swagger.io for the "valid" badge.
    validatorUrl: null,
    // "Try it out" already open on every operation: running code is what this API is for.
    tryItOutEnabled: true,
    displayRequestDuration: true,
    filter: true,
    defaultModelsExpandDepth: 1
  });
});
