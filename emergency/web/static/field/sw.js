// Service worker of the field form: keeps the form's own files so it opens without a
// connection. It never touches /api/ requests: the page's outbox retries those itself.
var CACHE = "field-v1";
var ASSETS = ["/field", "/static/field/field.css", "/static/field/i18n.js", "/static/field/field.js"];

self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(ASSETS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (e) {
  e.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (e) {
  var url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin) return;
  if (ASSETS.indexOf(url.pathname) < 0) return;
  // Network first (fresh after a deploy), the cached copy when there is no connection.
  e.respondWith(fetch(e.request).then(function (r) {
    if (r.ok) { var copy = r.clone(); caches.open(CACHE).then(function (c) { c.put(url.pathname, copy); }); }
    return r;
  }).catch(function () {
    return caches.match(url.pathname).then(function (r) { return r || Response.error(); });
  }));
});
