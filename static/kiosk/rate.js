/* The rating page: one tap stores a rating; everything after it is optional.
 *
 * Taps never wait for the network. A tap is held in localStorage while the thank-you
 * screen offers 重新评价; then it moves to the outbox, which sends ratings and
 * suggestions in order, with their tap time, retrying with backoff until the server
 * answers. The same client_id is sent on every retry, so nothing is stored twice. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("config").textContent);
  var KIOSK = cfg.mode === "kiosk";
  var OUTBOX = "kiosk.outbox.v1", HELD = "kiosk.held.v1", DROPPED = "kiosk.dropped.v1",
      OFFSET = "kiosk.clock-offset.v1";

  function $(id) { return document.getElementById(id); }
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  function load(key, fallback) {
    try { var v = localStorage.getItem(key); return v ? JSON.parse(v) : fallback; }
    catch (e) { return fallback; }
  }
  function save(key, value) {
    try {
      if (value == null) localStorage.removeItem(key);
      else localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* storage full or disabled: keep going in memory */ }
  }
  function newId() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  /* ---- the server's clock: tablets' clocks are often wrong ---- */
  var offset = load(OFFSET, null);
  if (offset === null) offset = Date.parse(cfg.server_now) - Date.now();
  function tapTime() { return new Date(Date.now() + offset).toISOString(); }
  function syncClock() {
    var t0 = Date.now();
    fetch(cfg.urls.time, { cache: "no-store" }).then(function (r) { return r.json(); })
      .then(function (d) {
        offset = Date.parse(d.now) - (t0 + Date.now()) / 2;
        save(OFFSET, offset);
      }).catch(function () {});
  }

  /* ---- the outbox ---- */
  var sending = false, failures = 0, nextTry = 0, timer = null;

  function items() { return load(OUTBOX, []); }
  function enqueue(url, body) {
    var xs = items();
    xs.push({ id: body.client_id, url: url, body: body });
    save(OUTBOX, xs);
    pump();
  }
  function drop(id) { save(OUTBOX, items().filter(function (x) { return x.id !== id; })); }
  function replace(item) {
    save(OUTBOX, items().map(function (x) { return x.id === item.id ? item : x; }));
  }

  function pump() {
    clearTimeout(timer);
    showStatus();
    if (sending) return;
    var xs = items();
    if (!xs.length) return;
    var wait = nextTry - Date.now();
    if (wait > 0) { timer = setTimeout(pump, wait); return; }
    var item = xs[0];
    sending = true;
    var ctrl = window.AbortController ? new AbortController() : null;
    var kill = setTimeout(function () { if (ctrl) ctrl.abort(); }, 15000);
    fetch(item.url, {
      method: "POST", cache: "no-store", signal: ctrl && ctrl.signal,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(item.body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        answered(item, resp.status, data);
      });
    }).catch(function () { failed(); })
      .then(function () { clearTimeout(kill); sending = false; pump(); });
  }

  function answered(item, status, data) {
    if (status < 300) {
      failures = 0; nextTry = 0; drop(item.id);
    } else if (status >= 500 || status === 408 || status === 429) {
      failed();
    } else if (status === 400 && item.body.created_at && /created_at/.test(data.error || "")) {
      // The tap time was refused (a clock far off): keep the rating, stamped on arrival.
      console.warn("rating " + item.id + ": " + data.error + "; sending without tap time");
      delete item.body.created_at;
      replace(item);
    } else {
      console.error("dropped " + item.id + " (" + status + "): " + (data.error || ""));
      var log = load(DROPPED, []).slice(-19);
      log.push({ at: new Date().toISOString(), status: status, error: data.error, item: item });
      save(DROPPED, log);
      drop(item.id);
    }
  }

  function failed() {
    failures += 1;
    var delay = Math.min(60000, 1000 * Math.pow(2, failures)) * (0.75 + Math.random() / 2);
    nextTry = Date.now() + delay;
  }

  function sendNow() { nextTry = 0; failures = 0; pump(); }
  window.addEventListener("online", sendNow);

  /* ---- a tap, held while it can still be taken back ---- */
  var tap = null;

  function hold() { save(HELD, tap); }
  function release() {
    var held = load(HELD, null);
    save(HELD, null);
    if (held) enqueue(cfg.urls.ratings, held);
  }
  function discard() { save(HELD, null); tap = null; }

  /* ---- screens ---- */
  var current = "start", idleTimer = null, thanksTimer = null, lockUntil = 0, lang = "zh";
  var faces = all(".face-btn");

  function show(id) {
    all(".screen").forEach(function (s) { s.hidden = s.id !== id; });
    current = id;
    armIdle();
    window.scrollTo(0, 0);
  }

  function armIdle() {
    clearTimeout(idleTimer);
    if (KIOSK && current !== "start") idleTimer = setTimeout(idle, cfg.idle_seconds * 1000);
  }
  ["pointerdown", "keydown", "input"].forEach(function (ev) {
    document.addEventListener(ev, armIdle, true);
  });

  function idle() {
    if (current === "details") takeDetails(true);
    finish();
  }

  function lockFaces(ms) {
    lockUntil = Date.now() + ms;
    faces.forEach(function (b) { b.disabled = true; });
    setTimeout(function () {
      if (Date.now() >= lockUntil) faces.forEach(function (b) { b.disabled = false; });
    }, ms);
  }

  /* Back to the start for the next citizen, with nothing of this one left on screen. */
  function reset() {
    clearTimeout(thanksTimer);
    tap = null;
    all(".chip").forEach(function (c) { c.setAttribute("aria-pressed", "false"); });
    ["comment", "phone", "suggest-text", "suggest-phone"].forEach(function (id) { $(id).value = ""; });
    ["details-error", "suggest-error"].forEach(function (id) { $(id).textContent = ""; });
    counter();
    if (KIOSK && lang !== cfg.lang) setLang(cfg.lang);
    show("start");
    lockFaces(cfg.press_lock_ms);
  }

  function finish() { release(); if (KIOSK) reset(); }

  faces.forEach(function (btn) {
    btn.addEventListener("click", function () {
      if (Date.now() < lockUntil) return;
      lockFaces(cfg.press_lock_ms);
      var score = Number(btn.getAttribute("data-score"));
      tap = { window: cfg.window, score: score, channel: cfg.channel,
              client_id: newId(), created_at: tapTime() };
      hold();
      if (score <= 3) openDetails(score); else thanks();
    });
  });

  function openDetails(score) {
    var s = cfg.strings[lang], bad = score <= 2;
    $("details-title").textContent = bad ? s.sorry : s.better;
    $("details-sub").textContent = bad ? s.why : "";
    $("details-title").setAttribute("data-t", bad ? "sorry" : "better");
    $("details-sub").setAttribute("data-t", bad ? "why" : "");
    show("details");
  }

  all(".chip").forEach(function (chip) {
    chip.addEventListener("click", function () {
      var on = chip.getAttribute("aria-pressed") !== "true";
      chip.setAttribute("aria-pressed", on ? "true" : "false");
    });
  });

  var SEP = new RegExp(cfg.phone.separators, "g");
  var MOBILE = new RegExp("^(?:" + cfg.phone.mobile + ")$");
  var LANDLINE = new RegExp("^(?:" + cfg.phone.landline + ")$");
  /* The digits of a valid number, "" for none, null for one that is not valid. */
  function phoneOf(raw) {
    var d = raw.replace(SEP, "");
    if (!d) return "";
    ["+86", "0086"].forEach(function (p) {
      if (d.indexOf(p) === 0 && MOBILE.test(d.slice(p.length))) d = d.slice(p.length);
    });
    return MOBILE.test(d) || LANDLINE.test(d) ? d : null;
  }

  /* Copy the details into the held tap; false if the phone number needs fixing. */
  function takeDetails(lenient) {
    var reasons = all(".chip[aria-pressed=true]").map(function (c) { return c.getAttribute("data-reason"); });
    var comment = $("comment").value.trim() ? $("comment").value : "";
    var phone = phoneOf($("phone").value);
    if (phone === null && !lenient) {
      $("details-error").textContent = cfg.strings[lang].bad_phone;
      return false;
    }
    if (reasons.length) tap.reasons = reasons;
    if (comment) tap.comment = comment;
    if (phone) tap.phone = phone;
    hold();
    return true;
  }

  $("details-submit").addEventListener("click", function () { if (takeDetails(false)) thanks(); });
  $("details-skip").addEventListener("click", thanks);

  function thanks() {
    show("thanks");
    var undo = $("undo"), left = cfg.thanks_seconds;
    undo.hidden = false;
    $("suggest-after").disabled = true;  // a second tap of the face must not land here
    setTimeout(function () { $("suggest-after").disabled = false; }, cfg.press_lock_ms);
    function tick() {
      $("undo-count").textContent = "(" + left + ")";
      if (left <= 0) {
        if (KIOSK) { finish(); } else { undo.hidden = true; release(); }
        return;
      }
      left -= 1;
      thanksTimer = setTimeout(tick, 1000);
    }
    clearTimeout(thanksTimer);
    tick();
  }

  $("undo").addEventListener("click", function () {
    clearTimeout(thanksTimer);
    discard();       // the first tap is never sent, so never counted
    reset();
    lockUntil = 0;   // the corrected face may be tapped at once
    faces.forEach(function (b) { b.disabled = false; });
  });

  /* ---- suggestions ---- */
  function openSuggest() {
    clearTimeout(thanksTimer);
    if (tap) release();
    $("undo").hidden = true;
    show("suggest");
  }
  $("open-suggest").addEventListener("click", openSuggest);
  $("suggest-after").addEventListener("click", openSuggest);
  $("suggest-back").addEventListener("click", function () {
    if (KIOSK) reset(); else show(tap ? "thanks" : "start");
  });

  function counter() {
    var n = cfg.suggestion_max - $("suggest-text").value.length;
    $("suggest-count").textContent = cfg.strings[lang].chars_left.replace("{n}", n);
  }
  $("suggest-text").addEventListener("input", counter);

  $("suggest-submit").addEventListener("click", function () {
    var s = cfg.strings[lang], text = $("suggest-text").value, phone = phoneOf($("suggest-phone").value);
    if (!text.trim()) { $("suggest-error").textContent = s.need_text; return; }
    if (phone === null) { $("suggest-error").textContent = s.bad_phone; return; }
    var body = { text: text, window: cfg.window, channel: cfg.channel, client_id: newId(),
                 created_at: tapTime() };
    if (phone) body.phone = phone;
    enqueue(cfg.urls.suggestions, body);
    $("suggest-text").value = ""; $("suggest-phone").value = ""; $("suggest-error").textContent = "";
    show("suggested");
    if (KIOSK) thanksTimer = setTimeout(reset, 4000);
  });

  /* ---- language: switched in place, so it works offline ---- */
  function setLang(next) {
    lang = next;
    var s = cfg.strings[lang];
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    all("[data-t]").forEach(function (el) {
      var key = el.getAttribute("data-t");
      if (key && s[key]) el.textContent = s[key];
    });
    $("lang").textContent = s.switch;
    cfg.scores.forEach(function (sc) {
      document.querySelector("[data-score-label='" + sc.value + "']").textContent = sc[lang];
    });
    cfg.reasons.forEach(function (r) {
      document.querySelector(".chip[data-reason='" + r.code + "']").textContent = r[lang];
    });
    counter();
    showStatus();
  }
  $("lang").addEventListener("click", function () { setLang(lang === "zh" ? "en" : "zh"); });

  /* ---- the staff indicator ---- */
  function showStatus() {
    var n = items().length, bar = $("status"), s = cfg.strings[lang];
    var down = failures > 0 || navigator.onLine === false;
    bar.hidden = n === 0 && !down;
    bar.className = "status" + (down ? " offline" : "");
    $("status-text").textContent = (down ? s.offline + " · " : "") + (n ? s.queued + " " + n : "");
  }
  window.addEventListener("offline", showStatus);

  /* ---- leaving, reloading, and staying fresh ---- */
  window.addEventListener("pagehide", function () {
    release();  // the citizen has gone; a held tap is final
    if (navigator.sendBeacon) {
      items().forEach(function (it) {
        // Best effort; the item stays queued and is sent again (harmlessly) next time.
        navigator.sendBeacon(it.url, new Blob([JSON.stringify(it.body)], { type: "application/json" }));
      });
    }
  });

  if (KIOSK) {
    // Pick up a new clerk on duty or a new version: reload when nobody is mid-rating,
    // the queue is empty and the server answers (never into an error page).
    setInterval(function () {
      if (current !== "start" || items().length || load(HELD, null)) return;
      fetch(cfg.urls.page, { cache: "no-store" }).then(function (r) {
        if (r.ok && current === "start") location.reload();
      }).catch(function () {});
    }, 10 * 60 * 1000);
  }

  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(cfg.urls.sw).catch(function () {});
  }

  if (cfg.lang !== lang && cfg.strings[cfg.lang]) setLang(cfg.lang);
  release();  // a tap held when the page last closed belongs to a citizen who has left
  counter();
  syncClock();
  pump();
  setInterval(pump, 30000);
})();
