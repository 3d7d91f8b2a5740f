/* The kiosk's invitation to rate (一次一评): while the queue system or the clerk has a
 * service event open for this window, the start screen shows it, and the next tap
 * carries its id (rate.js asks window.kioskPrompt.take()). Short polling (one indexed
 * query, 304 when unchanged): a stream would hold one of waitress's few threads per
 * tablet. Failed polls back off, and the page recovers by itself. An invitation stays
 * on screen while open by the server's clock, so a tap made offline is still bound to
 * it (by its tap time) when sent. ES5, for old Android WebViews. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("config").textContent);
  if (cfg.mode !== "kiosk" || !cfg.urls.prompt) return;
  var POLL_MS = 500, MAX_WAIT_MS = 5000, TIMEOUT_MS = 5000;
  var USED = "kiosk.prompt-used.v1", OFFSET = "kiosk.clock-offset.v1";  // OFFSET: rate.js's

  function $(id) { return document.getElementById(id); }
  function load(key, fallback) {
    try { var v = localStorage.getItem(key); return v ? JSON.parse(v) : fallback; }
    catch (e) { return fallback; }
  }

  var current = null;        // the open, unrated event the server last named
  var used = load(USED, []); // events a tap has taken: never offered again
  var failures = 0, timer = null, busy = false;
  var startOffset = Date.parse(cfg.server_now) - Date.now();

  function serverNow() {  // rate.js keeps the tablet's offset to the server's clock
    var offset = load(OFFSET, null);
    if (!isFinite(offset)) offset = isFinite(startOffset) ? startOffset : 0;
    return Date.now() + offset;
  }

  function open() {
    return current && used.indexOf(current.id) < 0 &&
      Date.parse(current.expires_at) > serverNow() ? current : null;
  }

  function draw() {
    var p = open();
    $("invite").hidden = !p;
    if (p) {
      $("invite-item").textContent = p.service_item || "";
      $("invite-item").hidden = !p.service_item;
      $("invite-ticket").textContent = p.ticket || "";
      $("invite-ticket-line").hidden = !p.ticket;
    }
    $("wait-invite").hidden = !!p || !cfg.require_prompt;
    var body = document.body;
    body.className = body.className.replace(/ ?invited/g, "") + (p ? " invited" : "");
  }

  function remember(id, taken) {
    used = used.filter(function (x) { return x !== id; });
    if (taken) used = used.concat([id]).slice(-50);
    try { localStorage.setItem(USED, JSON.stringify(used)); } catch (e) { /* memory only */ }
    draw();
  }

  window.kioskPrompt = {
    /* The id of the invitation on screen, which this tap answers; null for none. */
    take: function () {
      var p = open();
      if (!p) return null;
      remember(p.id, true);
      return p.id;
    },
    /* The citizen took the tap back (重新评价): offer the invitation again. */
    giveBack: function (id) { remember(id, false); }
  };

  function poll() {
    clearTimeout(timer);
    if (busy) return;
    busy = true;
    var ctrl = window.AbortController ? new AbortController() : null;
    var kill = setTimeout(function () { if (ctrl) ctrl.abort(); }, TIMEOUT_MS);
    // "no-cache": the browser asks with If-None-Match, and a 304 costs the server nothing.
    fetch(cfg.urls.prompt, { cache: "no-cache", credentials: "same-origin",
                             signal: ctrl && ctrl.signal }).then(function (r) {
      if (!r.ok) throw new Error("prompt: HTTP " + r.status);
      return r.json();
    }).then(function (d) {
      failures = 0;
      current = d.prompt;
    }).catch(function () {
      failures += 1;
    }).then(function () {
      clearTimeout(kill);
      busy = false;
      draw();
      var wait = failures ? Math.min(MAX_WAIT_MS, POLL_MS * Math.pow(2, failures)) : POLL_MS;
      timer = setTimeout(poll, wait);
    });
  }

  window.addEventListener("online", function () { failures = 0; poll(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") poll();
  });
  draw();
  poll();
})();
