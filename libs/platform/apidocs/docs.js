// Starts Swagger UI on the page's OpenAPI document. A file of its own, not an inline script, so the
// page's Content-Security-Policy can allow scripts from its own origin only.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-document"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No third-party validator badge (it would call validator.swagger.io), and no configuration
    // from the page's query string (?url= would render another host's document on this origin).
    validatorUrl: null,
    queryConfigEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
