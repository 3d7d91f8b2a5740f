/* Service worker for the rating pages: they open even when the hall's network is down.
   Pages: network first, the last good copy when offline. Static files and photos:
   cache first (their URLs change when their content does). POSTs are never touched:
   the page's own outbox queues and retries them. */
"use strict";
var CACHE = "kiosk-{{ version }}";
var ASSETS = {{ assets | tojson }};
var PAGES = {{ scopes | tojson }};
var STATIC = {{ static | tojson }}, PHOTOS = {{ photos | tojson }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(ASSETS); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("kiosk-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function under(path, prefixes) {
  return prefixes.some(function (p) { return path.indexOf(p) === 0; });
}

self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate" && under(url.pathname, PAGES)) {
    event.respondWith(fetch(req).then(function (resp) {
      if (resp.ok) {
        var copy = resp.clone();
        caches.open(CACHE).then(function (c) { c.put(url.pathname, copy); });
      }
      return resp;
    }).catch(function () {
      return caches.match(url.pathname).then(function (hit) {
        return hit || Response.error();
      });
    }));
  } else if (under(url.pathname, [STATIC, PHOTOS])) {
    event.respondWith(caches.match(req).then(function (hit) {
      return hit || fetch(req).then(function (resp) {
        if (resp.ok) {
          var copy = resp.clone();
          caches.open(CACHE).then(function (c) { c.put(req, copy); });
        }
        return resp;
      });
    }));
  }
});
