/* The rating page: one tap stores a rating; everything after it is optional.
 *
 * Taps never wait for the network. A tap is held while the citizen can still add
 * details or take it back (重新评价); then it moves to the outbox, which sends ratings
 * and suggestions with their tap time, retrying with backoff until the server answers.
 * The same client_id goes with every retry, so nothing is stored twice. Both live in
 * localStorage (they survive a reload or a restart), or in memory where the browser
 * has no working storage. Written for old Android WebViews too: ES5, no flex gap. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("config").textContent);
  var KIOSK = cfg.mode === "kiosk";
  var OUTBOX = "kiosk.outbox.v1", HELD = "kiosk.held.v2", DROPPED = "kiosk.dropped.v1",
      OFFSET = "kiosk.clock-offset.v1";
  var ARRIVE_MS = 600;      // a new screen ignores taps this long (the second of a double tap)
  var HOLD_MS = (cfg.thanks_seconds + cfg.idle_seconds + 5) * 1000;  // a held tap's longest life

  function $(id) { return document.getElementById(id); }
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  function noop() {}

  /* ---- storage: localStorage, or memory when it fails ---- */
  var mem = {}, durable = true;
  function load(key, fallback) {
    if (!durable) return key in mem ? mem[key] : fallback;
    try { var v = localStorage.getItem(key); return v ? JSON.parse(v) : fallback; }
    catch (e) { toMemory(); return key in mem ? mem[key] : fallback; }
  }
  function save(key, value) {
    if (durable) {
      try {
        if (value == null) localStorage.removeItem(key);
        else localStorage.setItem(key, JSON.stringify(value));
        return;
      } catch (e) { toMemory(); }
    }
    mem[key] = value;
  }
  function toMemory() {  // storage is gone or full: carry on with what it held, in memory
    if (!durable) return;
    durable = false;
    console.error("localStorage unusable: queue kept in memory until the page closes");
    [OUTBOX, HELD, DROPPED, OFFSET].forEach(function (k) {
      try { var v = localStorage.getItem(k); if (v) mem[k] = JSON.parse(v); } catch (e) { /* none */ }
    });
  }

  function newId() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  /* ---- the server's clock: tablets' clocks are often wrong ---- */
  var offset = load(OFFSET, null);
  if (!isFinite(offset)) offset = Date.parse(cfg.server_now) - Date.now();
  if (!isFinite(offset)) offset = 0;
  function tapTime() { return new Date(Date.now() + offset).toISOString(); }
  function syncClock() {
    var t0 = Date.now();
    fetch(cfg.urls.time, { cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (d) {
      var next = d && Date.parse(d.now) - (t0 + Date.now()) / 2;
      if (isFinite(next)) { offset = next; save(OFFSET, offset); }
    }).catch(noop);
  }

  /* ---- the outbox ---- */
  var sending = false, failures = 0, nextTry = 0, timer = null, refused;

  function items() { return load(OUTBOX, []); }
  function enqueue(url, body) {
    var xs = items();
    if (!xs.some(function (x) { return x.id === body.client_id; })) {
      xs.push({ id: body.client_id, url: url, body: body, tries: 0 });
      save(OUTBOX, xs);
    }
    pump();
  }
  function drop(id) { save(OUTBOX, items().filter(function (x) { return x.id !== id; })); }

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
      method: "POST", cache: "no-store", redirect: "manual", signal: ctrl && ctrl.signal,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(item.body)
    }).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (data) {
        answered(item, resp.status, data);
      });
    }).catch(function () { failed(item); })
      .then(function () { clearTimeout(kill); sending = false; pump(); });
  }

  function answered(item, status, data) {
    if (status >= 200 && status < 300 && data && data.client_id === item.id) {
      failures = 0; nextTry = 0; drop(item.id); unpaired(false);
    } else if (status === 403 && KIOSK) {
      // Not (or no longer) paired: keep the citizen's rating queued, and say so (not
      // offline) until the tablet is paired again.
      unpaired(true);
      failed(item);
    } else if (item.body.evaluation != null && data && (status === 409 ||
               ((status === 400 || status === 404) && /^evaluation\b/.test(data.error)))) {
      // Its service event was no longer open when the citizen tapped, is gone, or was
      // rated on another tablet: the rating is still the citizen's, so send it again
      // as an unprompted one (marked so, and counted as the hall decides).
      console.error("sending " + item.id + " without its service event: " + data.error);
      var ys = items();
      ys.forEach(function (x) { if (x.id === item.id) delete x.body.evaluation; });
      save(OUTBOX, ys);
    } else if (status === 400 && item.body.phone && data && /^phone\b/.test(data.error)) {
      // The page's check let through a number the server's fuller rules refuse: the
      // rating (or suggestion) still counts, so send it again without the number.
      console.error("sending " + item.id + " without its phone: " + data.error);
      var xs = items();
      xs.forEach(function (x) { if (x.id === item.id) delete x.body.phone; });
      save(OUTBOX, xs);
    } else if (status >= 400 && status < 500 && status !== 408 && status !== 429 &&
               data && data.error) {
      // Our own server refused it: it will refuse it again. Keep a record for staff.
      console.error("dropped " + item.id + " (" + status + "): " + data.error);
      var log = load(DROPPED, []).slice(-49);
      log.push({ at: new Date().toISOString(), status: status, error: data.error, item: item });
      save(DROPPED, log);
      drop(item.id);
    } else {
      failed(item);  // 5xx, or something in between (a proxy, a captive portal)
    }
  }

  function unpaired(on) {  // the pairing notice (device.js shows it too, on its heartbeat)
    refused = on;
    var note = $("unpaired");
    if (note) note.hidden = !on;
  }

  function failed(item) {
    failures += 1;
    nextTry = Date.now() + Math.min(60000, 1000 * Math.pow(2, failures)) * (0.75 + Math.random() / 2);
    // An item that keeps failing must not hold up the ones behind it.
    var xs = items(), head = xs[0];
    if (head && head.id === item.id) {
      head.tries = (head.tries || 0) + 1;
      if (head.tries % 3 === 0 && xs.length > 1) xs.push(xs.shift());
      save(OUTBOX, xs);
    }
  }

  window.addEventListener("online", function () { nextTry = 0; failures = 0; pump(); });

  /* Hand everything queued to the browser to deliver even as the page goes away. The
     items stay queued; a second delivery later is answered 200 and changes nothing. */
  function flush() {
    items().forEach(function (it) {
      try {
        fetch(it.url, { method: "POST", keepalive: true, body: JSON.stringify(it.body),
                        headers: { "Content-Type": "application/json" } }).catch(noop);
      } catch (e) { /* no keepalive here: the outbox sends it next time */ }
    });
  }

  /* ---- held taps, by client_id, so two open pages never release each other's ---- */
  var tap = null;  // this citizen's tap, while it is held

  function hold() {
    var held = load(HELD, {});
    held[tap.client_id] = { tap: tap, at: Date.now() };
    save(HELD, held);
  }
  function unhold(id) {
    var held = load(HELD, {}), entry = held[id];
    delete held[id];
    save(HELD, held);
    return entry;
  }
  function release() {  // this citizen's tap is final: send it
    if (!tap) return;
    var entry = unhold(tap.client_id);
    tap = null;
    if (entry) enqueue(cfg.urls.ratings, entry.tap);
  }
  function discard() { if (tap) unhold(tap.client_id); tap = null; }
  /* Taps held by a page that closed mid-rating: their citizen has gone. */
  function releaseOrphans() {
    var held = load(HELD, {}), now = Date.now(), later = Infinity;
    Object.keys(held).forEach(function (id) {
      if (tap && id === tap.client_id) return;
      var age = now - held[id].at;
      if (age >= HOLD_MS || age < 0) enqueue(cfg.urls.ratings, unhold(id).tap);
      else later = Math.min(later, HOLD_MS - age);
    });
    if (later < Infinity) setTimeout(releaseOrphans, later + 1000);
  }

  /* ---- screens ---- */
  var current = "start", idleTimer = null, thanksTimer = null, lockUntil = 0, lang = "zh";
  var faces = all(".face-btn");

  function show(id) {
    all(".screen").forEach(function (s) { s.hidden = s.id !== id; });
    current = id;
    var screen = $(id);
    screen.className = screen.className.replace(/ ?arriving/g, "") + " arriving";
    setTimeout(function () { screen.className = screen.className.replace(/ ?arriving/g, ""); }, ARRIVE_MS);
    var heading = screen.querySelector("h1");
    if (heading && heading.focus) heading.focus({ preventScroll: true });
    screen.scrollTop = 0;
    armIdle();
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
  function reset(lockMs) {
    clearTimeout(thanksTimer);
    all(".chip").forEach(function (c) { c.setAttribute("aria-pressed", "false"); });
    ["comment", "phone", "suggest-text", "suggest-phone"].forEach(function (id) { $(id).value = ""; });
    ["details-error", "suggest-error"].forEach(function (id) { $(id).textContent = ""; });
    counter();
    if (KIOSK && lang !== cfg.lang) setLang(cfg.lang);
    show("start");
    lockFaces(lockMs);
  }

  function finish() { release(); if (KIOSK) reset(cfg.press_lock_ms); }

  faces.forEach(function (btn) {
    btn.addEventListener("click", function () {
      if (Date.now() < lockUntil || current !== "start") return;
      lockFaces(cfg.press_lock_ms);
      release();  // a previous tap still held (a phone rating again) is final now
      var score = Number(btn.getAttribute("data-score"));
      tap = { window: cfg.window, score: score, channel: cfg.channel,
              client_id: newId(), created_at: tapTime() };
      // The service event whose invitation is on screen (一次一评, prompt.js).
      var invited = window.kioskPrompt ? window.kioskPrompt.take() : null;
      if (invited != null) tap.evaluation = invited;
      hold();
      if (score <= 3) openDetails(score); else thanks();
    });
  });

  function openDetails(score) {
    var bad = score <= 2;
    $("details-title").setAttribute("data-t", bad ? "sorry" : "better");
    $("details-sub").setAttribute("data-t", bad ? "why" : "none");
    translate($("details"));
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
  var INTERNATIONAL = new RegExp("^(?:" + cfg.phone.international + ")$");
  var NATIONAL = {};  /* country code -> RegExp, made when first needed */
  function nationalOk(code, rest) {
    var rule = cfg.phone.codes[code];
    if (!NATIONAL[code]) NATIONAL[code] = new RegExp("^(?:" + rule[0] + ")$");
    return rule[1].indexOf(rest.length) >= 0 && NATIONAL[code].test(rest);
  }
  /* The number as the API stores it: a mainland mobile or landline as its digits, any
     other as +<code><number>; "" for none, null for one the API would refuse (the
     same rules as kiosk/privacy.py, so a rating is never dropped for its number). */
  function phoneOf(raw) {
    var d = raw.replace(SEP, "");
    if (!d) return "";
    if (d.indexOf("00") === 0) d = "+" + d.slice(2);
    if (d.charAt(0) !== "+") return MOBILE.test(d) || LANDLINE.test(d) ? d : null;
    if (!INTERNATIONAL.test(d)) return null;
    for (var n = 1; n <= 3; n++) {  /* country codes are 1-3 digits, none the start of another */
      var code = d.slice(1, 1 + n), rest = d.slice(1 + n);
      if (code === cfg.phone.mainland) {
        if (MOBILE.test(rest)) return rest;
        return LANDLINE.test("0" + rest) ? "0" + rest : null;
      }
      if (cfg.phone.codes[code]) return nationalOk(code, rest) ? d : null;
    }
    return null;
  }
  /* Why a number was refused; numbers typed without + get the hint about +区号. */
  function badPhone(raw) {
    var s = cfg.strings[lang], d = raw.replace(SEP, "");
    return d.charAt(0) === "+" || d.indexOf("00") === 0 ? s.bad_phone : s.bad_phone_code;
  }

  /* Copy the details into the held tap; false if the phone number needs fixing. */
  function takeDetails(lenient) {
    if (!tap) return true;
    var reasons = all(".chip[aria-pressed=true]").map(function (c) { return c.getAttribute("data-reason"); });
    var comment = $("comment").value.trim() ? $("comment").value : "";
    var phone = phoneOf($("phone").value);
    if (phone === null && !lenient) {
      $("details-error").textContent = badPhone($("phone").value);
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
    undo.hidden = !tap;
    function tick() {
      $("undo-count").textContent = "(" + left + ")";
      if (left <= 0) {
        if (KIOSK) finish(); else { undo.hidden = true; release(); }
        return;
      }
      left -= 1;
      thanksTimer = setTimeout(tick, 1000);
    }
    clearTimeout(thanksTimer);
    tick();
  }

  $("undo").addEventListener("click", function () {
    // The invitation stays open for the citizen's second tap.
    if (tap && tap.evaluation != null && window.kioskPrompt) window.kioskPrompt.giveBack(tap.evaluation);
    discard();  // the first tap is never sent, so never counted
    reset(ARRIVE_MS);
  });

  /* ---- suggestions ---- */
  function openSuggest() {
    clearTimeout(thanksTimer);
    release();
    $("undo").hidden = true;
    show("suggest");
  }
  $("open-suggest").addEventListener("click", openSuggest);
  $("suggest-after").addEventListener("click", openSuggest);
  $("suggest-back").addEventListener("click", function () {
    if (KIOSK) reset(cfg.press_lock_ms); else show("start");
  });

  function counter() {
    var n = cfg.suggestion_max - $("suggest-text").value.length;
    $("suggest-count").textContent = cfg.strings[lang].chars_left.replace("{n}", n);
  }
  $("suggest-text").addEventListener("input", counter);

  $("suggest-submit").addEventListener("click", function () {
    var s = cfg.strings[lang], text = $("suggest-text").value, phone = phoneOf($("suggest-phone").value);
    if (!text.trim()) { $("suggest-error").textContent = s.need_text; return; }
    if (phone === null) { $("suggest-error").textContent = badPhone($("suggest-phone").value); return; }
    var body = { text: text, window: cfg.window, channel: cfg.channel, client_id: newId(),
                 created_at: tapTime() };
    if (phone) body.phone = phone;
    enqueue(cfg.urls.suggestions, body);
    $("suggest-text").value = ""; $("suggest-phone").value = ""; $("suggest-error").textContent = "";
    show("suggested");
    if (KIOSK) thanksTimer = setTimeout(function () { reset(cfg.press_lock_ms); }, 4000);
  });

  /* ---- language: switched in place, so it works offline ---- */
  function translate(root) {
    var s = cfg.strings[lang];
    Array.prototype.forEach.call(root.querySelectorAll("[data-t]"), function (el) {
      var key = el.getAttribute("data-t");
      el.textContent = key === "none" ? "" : (s[key] || el.textContent);
    });
  }
  function setLang(next) {
    lang = next;
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    translate(document);
    cfg.scores.forEach(function (sc) {
      document.querySelector("[data-score-label='" + sc.value + "']").textContent = sc[lang];
    });
    cfg.reasons.forEach(function (r) {
      document.querySelector(".chip[data-reason='" + r.code + "']").textContent = r[lang];
    });
    // Texts the server gives in both languages (the questionnaires' invitations).
    all("[data-zh]").forEach(function (el) {
      el.textContent = el.getAttribute("data-" + lang) || el.getAttribute("data-zh");
    });
    counter();
    showStatus();
  }
  $("lang").addEventListener("click", function () { setLang(lang === "zh" ? "en" : "zh"); });

  /* ---- the staff indicator ---- */
  function showStatus() {
    var n = items().length, bar = $("status"), s = cfg.strings[lang];
    document.body.setAttribute("data-queued", String(n));  // device.js reports it
    var down = (failures > 0 && !refused) || navigator.onLine === false;
    bar.hidden = n === 0 && !down;
    bar.className = "status" + (down ? " offline" : "");
    $("status-text").textContent = (down ? s.offline + " · " : "") + (n ? s.queued + " " + n : "");
  }
  window.addEventListener("offline", showStatus);

  /* ---- leaving, coming back, and staying fresh ---- */
  function leaving() {
    if (current === "details") takeDetails(true);
    release();  // the citizen has gone (or switched away): a held tap is final
    flush();
  }
  window.addEventListener("pagehide", leaving);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") leaving();
    else if (current === "details" && !tap) thanks();  // its tap went when the page hid
  });
  window.addEventListener("pageshow", function (e) {
    // Back from the back/forward cache: its tap has been released; start afresh.
    if (e.persisted) { if (KIOSK) reset(cfg.press_lock_ms); else if (current !== "start") show("thanks"); }
  });

  /* ---- the 挂牌 card: a 换岗 shows within a poll or two, without a reload ----
     Asked only while the start screen is idle and the tablet is online; a failed
     poll is ignored (the card shown stays), and the outbox is never touched. */
  var cardVersion = cfg.card_version, lastTouch = 0;
  function cardIdle() {
    return current === "start" && !tap && Date.now() - lastTouch > 3000 &&
      navigator.onLine !== false && document.visibilityState !== "hidden";
  }
  function el(tag, cls, text, key) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    if (key) node.setAttribute("data-t", key);
    return node;
  }
  function drawCard(c) {
    var card = document.querySelector("aside.card"), who = el("div", "who");
    while (card.firstChild) card.removeChild(card.firstChild);
    if (c.staff_name) {
      var photo = el("div", "photo");
      if (c.photo) { var img = el("img"); img.alt = ""; img.src = c.photo; photo.appendChild(img); }
      else photo.appendChild(el("span", "initial", c.initial));
      card.appendChild(photo);
      who.appendChild(el("div", "badge", null, "on_duty"));
      who.appendChild(el("div", "name", c.staff_name));
      var no = el("div", "no");
      no.appendChild(el("span", null, null, "staff_no"));
      no.appendChild(document.createTextNode(" " + (c.staff_no || "")));
      who.appendChild(no);
      who.appendChild(el("div", "dept", c.department));
      if (c.duties) {
        var duties = el("div", "duties");
        duties.appendChild(el("b", null, null, "duties"));
        duties.appendChild(document.createTextNode(" " + c.duties));
        who.appendChild(duties);
      }
    } else {
      who.appendChild(el("div", "dept", c.department));
      who.appendChild(el("div", "nobody", null, "nobody"));
    }
    card.appendChild(who);
    if (KIOSK && c.items && c.items.length) card.appendChild(drawItems(c.items));
    translate(card);
    cardVersion = c.version;
  }
  function drawItems(items) {  // 事项公示, as rate.html draws it
    var box = el("div", "items"), list = el("ul");
    box.appendChild(el("div", "items-title", null, "window_items"));
    items.forEach(function (it) {
      var li = el("li", null, it.name + " "), d = it.time_limit_days, s;
      if (d === 0) li.appendChild(el("span", "limit", null, "instant"));
      else if (d) { s = el("span", "limit", d + " "); s.appendChild(el("span", null, null, "workdays")); li.appendChild(s); }
      list.appendChild(li);
    });
    box.appendChild(list);
    return box;
  }
  function pollCard() {
    if (!cardIdle()) return;
    fetch(cfg.urls.card, { cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (c) {
      if (!c || c.version === cardVersion) return;
      var ready = function () { if (cardIdle()) drawCard(c); };  // else: the next poll
      if (!c.photo) { ready(); return; }
      var pre = new Image();  // load the new photo first: no empty frame on the card
      pre.onload = pre.onerror = ready;
      pre.src = c.photo;
    }).catch(noop);
  }

  if (KIOSK) {
    ["pointerdown", "keydown"].forEach(function (ev) {
      document.addEventListener(ev, function () { lastTouch = Date.now(); }, true);
    });
    setInterval(pollCard, Math.max(2, cfg.card_poll_seconds) * 1000);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") pollCard();
    });
    window.addEventListener("online", pollCard);

    // Pick up a new clerk on duty or a new version: reload when nobody is mid-rating,
    // the queue is empty and the server answers (never into an error page).
    setInterval(function () {
      if (current !== "start" || tap || items().length) return;
      fetch(cfg.urls.page, { cache: "no-store" }).then(function (r) {
        if (r.ok && current === "start" && !tap) location.reload();
      }).catch(noop);
    }, 10 * 60 * 1000);
  }

  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(cfg.urls.sw).catch(noop);
  }

  if (cfg.lang !== lang && cfg.strings[cfg.lang]) setLang(cfg.lang);
  releaseOrphans();
  counter();
  syncClock();
  setInterval(syncClock, 10 * 60 * 1000);
  pump();
  setInterval(pump, 30000);
})();
