// Renders the OpenAPI document as a browsable page: no CDN, no build step, works offline.
(function () {
  "use strict";
  var spec = null;
  var esc = function (s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); };

  function resolve(schema, seen) {
    seen = seen || {};
    if (!schema || typeof schema !== "object") return schema;
    if (schema.$ref) {
      var name = schema.$ref.split("/").pop();
      if (seen[name]) return {"$ref": name + " (recursive)"};
      var next = Object.assign({}, seen); next[name] = true;
      return resolve(spec.components.schemas[name], next);
    }
    if (Array.isArray(schema)) return schema.map(function (s) { return resolve(s, seen); });
    var out = {};
    Object.keys(schema).forEach(function (k) { out[k] = resolve(schema[k], seen); });
    return out;
  }

  function dataSchema(response) {
    var content = response && response.content && (response.content["application/json"] || response.content["text/html"]);
    if (!content) return null;
    var s = resolve(content.schema);
    return s && s.properties && s.properties.data ? s.properties.data : s;
  }

  function render(filter) {
    var groups = {};
    Object.keys(spec.paths).forEach(function (path) {
      Object.keys(spec.paths[path]).forEach(function (method) {
        var op = spec.paths[path][method];
        var text = (method + " " + path + " " + (op.summary || "")).toLowerCase();
        if (filter && text.indexOf(filter.toLowerCase()) < 0) return;
        var tag = (op.tags && op.tags[0]) || "other";
        (groups[tag] = groups[tag] || []).push([method, path, op]);
      });
    });
    var html = "";
    Object.keys(groups).forEach(function (tag) {
      html += "<h2>" + esc(tag) + "</h2>";
      groups[tag].forEach(function (entry) {
        var method = entry[0], path = entry[1], op = entry[2];
        html += "<details><summary><span class='m " + method + "'>" + method.toUpperCase() + "</span>" + esc(path) +
          "<span class='s'>" + esc(op.summary || "") + "</span></summary>";
        if (op.description) html += "<p>" + esc(op.description) + "</p>";
        if (op.parameters && op.parameters.length) {
          html += "<table><tr><th>parameter</th><th>in</th><th>schema</th><th>description</th></tr>";
          op.parameters.forEach(function (p) {
            html += "<tr><td>" + esc(p.name) + (p.required ? " *" : "") + "</td><td>" + esc(p.in) + "</td><td><code>" +
              esc(JSON.stringify(resolve(p.schema))) + "</code></td><td>" + esc(p.description || "") + "</td></tr>";
          });
          html += "</table>";
        }
        if (op.requestBody) {
          var body = op.requestBody.content["application/json"];
          html += "<p>Request body:</p><pre>" + esc(JSON.stringify(resolve(body.schema), null, 2)) + "</pre>";
        }
        Object.keys(op.responses).forEach(function (status) {
          if (status.charAt(0) !== "2") return;  // errors are listed below
          html += "<p>Response " + esc(status) + " — <code>data</code>:</p><pre>" +
            esc(JSON.stringify(dataSchema(op.responses[status]), null, 2)) + "</pre>";
        });
        var errors = op["x-error-codes"] || [];
        if (errors.length) {
          html += "<p>Errors (the envelope with a non-zero <code>code</code>):</p><table><tr><th>HTTP</th><th>code</th><th>when</th></tr>";
          errors.forEach(function (e) {
            html += "<tr><td>" + esc(e.status) + "</td><td>" + esc(e.code) + "</td><td>" + esc(e.when) + "</td></tr>";
          });
          html += "</table>";
        }
        html += "</details>";
      });
    });
    document.getElementById("ops").innerHTML = html || "<p>No operation matches.</p>";
  }

  fetch("/api/v1/openapi.json").then(function (r) { return r.json(); }).then(function (doc) {
    spec = doc;
    render("");
    document.getElementById("filter").addEventListener("input", function (e) { render(e.target.value); });
  }).catch(function (err) {
    document.getElementById("ops").innerHTML = "<p>Could not load the OpenAPI document: " + esc(err) + "</p>";
  });
})();
