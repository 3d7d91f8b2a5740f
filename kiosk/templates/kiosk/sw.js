/* Service worker for the rating pages: they open even when the hall's network is down.
   Pages: network first (given a few seconds), else the last good copy, else a small
   page that keeps retrying. Static files and photos: cache first (their URLs change
   when their content does). POSTs are never touched: the page's outbox sends them. */
"use strict";
var ASSETS_CACHE = "kiosk-assets-{{ version }}";
var PAGES_CACHE = "kiosk-pages";  // kept across versions: a deploy must not lose the page
var ASSETS = {{ assets | tojson }};
var PAGES = {{ scopes | tojson }};
var STATIC = {{ static | tojson }}, PHOTOS = {{ photos | tojson }};
var NETWORK_MS = 4000;

function under(path, prefixes) {
  return prefixes.some(function (p) { return path.indexOf(p) === 0; });
}

self.addEventListener("install", function (event) {
  event.waitUntil(Promise.all([
    caches.open(ASSETS_CACHE).then(function (c) { return c.addAll(ASSETS); }),
    // The page that registered us is open already: keep a copy of it now.
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
      var urls = list.map(function (c) { return new URL(c.url).pathname; })
        .filter(function (p) { return under(p, PAGES); });
      return caches.open(PAGES_CACHE).then(function (c) {
        return Promise.all(urls.map(function (u) { return c.add(u).catch(function () {}); }));
      });
    })
  ]).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("kiosk-assets-") === 0 && k !== ASSETS_CACHE;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

// Drawn here, it still lives under the site's policy: no inline script or style (it
// reloads itself by a meta refresh and takes its look from the cached stylesheet).
var SECURITY_HEADERS = {{ security_headers | tojson }};
var CSS = ASSETS.filter(function (u) { return /\.css(\?|$)/.test(u); });

function offlinePage() {
  var html = '<!doctype html><meta charset="utf-8"><meta name="viewport" ' +
    'content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="10">' +
    '<title>…</title>' + CSS.map(function (u) {
      return '<link rel="stylesheet" href="' + u + '">';
    }).join("") + '<body class="notice offline">' +
    '网络暂时中断，正在重新连接…<br><small>Reconnecting…</small>';
  var headers = new Headers(SECURITY_HEADERS);
  headers.set("Content-Type", "text/html; charset=utf-8");
  return new Response(html, { status: 503, headers: headers });
}

function page(event, path) {
  var network = fetch(event.request).then(function (resp) {
    if (resp.ok) {
      var copy = resp.clone();
      event.waitUntil(caches.open(PAGES_CACHE).then(function (c) { return c.put(path, copy); }));
    }
    return resp;
  });
  var cached = caches.open(PAGES_CACHE).then(function (c) { return c.match(path); });
  var slow = new Promise(function (resolve) { setTimeout(resolve, NETWORK_MS); });
  // The network's answer if it comes in time; the copy if it fails or dawdles.
  return Promise.race([network.catch(function () { return null; }), slow]).then(function (resp) {
    return resp || cached.then(function (hit) {
      return hit || network.catch(function () { return offlinePage(); });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate" && under(url.pathname, PAGES)) {
    event.respondWith(page(event, url.pathname));
  } else if (under(url.pathname, [STATIC, PHOTOS])) {
    event.respondWith(caches.open(ASSETS_CACHE).then(function (c) {
      return c.match(req).then(function (hit) {
        return hit || fetch(req).then(function (resp) {
          if (resp.ok) event.waitUntil(c.put(req, resp.clone()));
          return resp;
        });
      });
    }));
  }
});
