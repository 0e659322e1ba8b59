// Starts Swagger UI on the service's own OpenAPI document. A file, not an inline script: the page's CSP allows none.
(() => {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    // Never load another document or configuration named in the page's URL.
    queryConfigEnabled: false,
    // No badge that would send the document's URL to validator.swagger.io.
    validatorUrl: null,
  });
})();
