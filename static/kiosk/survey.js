/* The questionnaire page (问卷调查): one question a screen, then the answers go to the
 * outbox with the time the citizen submitted them.
 *
 * The outbox is the rating pages' own (rate.js): the same localStorage key and item
 * shape ({id, url, body, tries}), so a response queued here while the hall's network
 * is down is also delivered by the kiosk or QR rating page the citizen goes back to,
 * and nothing is lost if this page is never opened again. This page sends only the
 * questionnaire items itself (rate.js knows the rating rules). The same client_id goes
 * with every retry, so nothing is stored twice. ES5, for old Android WebViews. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("config").textContent);
  var KIOSK = cfg.channel === "kiosk";
  var OUTBOX = "kiosk.outbox.v1", DROPPED = "kiosk.dropped.v1",
      OFFSET = "kiosk.clock-offset.v1", ANSWERED = "survey.answered.v1";
  var MINE = cfg.urls.responses.replace(/[^/]+\/responses$/, "");  // /api/surveys/
  var ADVANCE_MS = 350;  // a chosen answer stays in sight this long before the next question

  function $(id) { return document.getElementById(id); }
  function all(sel, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(sel));
  }
  function noop() {}

  /* ---- storage: localStorage, or memory when it fails ---- */
  var mem = {}, durable = true;
  function load(key, fallback) {
    if (durable) {
      try { var v = localStorage.getItem(key); return v ? JSON.parse(v) : fallback; }
      catch (e) { durable = false; }
    }
    return key in mem ? mem[key] : fallback;
  }
  function save(key, value) {
    if (durable) {
      try { localStorage.setItem(key, JSON.stringify(value)); return; }
      catch (e) { durable = false; }
    }
    mem[key] = value;
  }

  function newId() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }

  /* ---- the server's clock (a tablet's may be wrong) ---- */
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

  /* ---- the outbox (shared with rate.js) ---- */
  var sending = false, failures = 0, nextTry = 0, timer = null;
  function items() { return load(OUTBOX, []); }
  function ours(x) { return x.url.indexOf(MINE) === 0; }
  function enqueue(body) {
    var xs = items();
    xs.push({ id: body.client_id, url: cfg.urls.responses, body: body, tries: 0 });
    save(OUTBOX, xs);
    pump();
  }
  function drop(id) { save(OUTBOX, items().filter(function (x) { return x.id !== id; })); }

  function pump() {
    clearTimeout(timer);
    showStatus();
    if (sending) return;
    var item = items().filter(ours)[0];
    if (!item) return;
    var wait = nextTry - Date.now();
    if (wait > 0) { timer = setTimeout(pump, wait); return; }
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
      failures = 0; nextTry = 0; drop(item.id);
    } else if (status >= 400 && status < 500 && status !== 403 && status !== 408 &&
               status !== 429 && data && data.error) {
      // Our server refused it (answered already, closed, invalid): it would again.
      console.error("dropped " + item.id + " (" + status + "): " + data.error);
      var log = load(DROPPED, []).slice(-49);
      log.push({ at: new Date().toISOString(), status: status, error: data.error, item: item });
      save(DROPPED, log);
      drop(item.id);
    } else {
      failed(item);  // offline, 5xx, a proxy, or a tablet not paired (yet): keep it
    }
  }

  function failed(item) {
    failures += 1;
    nextTry = Date.now() + Math.min(60000, 1000 * Math.pow(2, failures)) * (0.75 + Math.random() / 2);
    var xs = items();
    xs.forEach(function (x) { if (x.id === item.id) x.tries = (x.tries || 0) + 1; });
    save(OUTBOX, xs);
  }

  window.addEventListener("online", function () { nextTry = 0; failures = 0; pump(); });
  window.addEventListener("offline", showStatus);

  /* Leaving: hand what is queued to the browser; it stays queued (a repeat is a 200). */
  window.addEventListener("pagehide", function () {
    items().filter(ours).forEach(function (it) {
      try {
        fetch(it.url, { method: "POST", keepalive: true, body: JSON.stringify(it.body),
                        headers: { "Content-Type": "application/json" } }).catch(noop);
      } catch (e) { /* no keepalive here: sent next time */ }
    });
  });

  /* ---- language: switched in place, so it works offline ---- */
  var lang = "zh";
  function fill(text) {
    var n = questions.length;
    return text.replace("{n}", n).replace("{m}", $("count").getAttribute("data-m"))
      .replace("{i}", index + 1);
  }
  function setLang(next) {
    lang = next;
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    var s = cfg.strings[lang];
    all("[data-t]").forEach(function (el) {
      var key = el.getAttribute("data-t");
      if (s[key]) el.textContent = fill(s[key]);
    });
    all("[data-zh]").forEach(function (el) {
      el.textContent = el.getAttribute("data-" + lang) || el.getAttribute("data-zh");
    });
    all(".question textarea").forEach(counter);
    if (current === "ask") showQuestion(index);
    showStatus();
  }
  $("lang").addEventListener("click", function () { setLang(lang === "zh" ? "en" : "zh"); });

  /* ---- screens ---- */
  var questions = all(".question"), index = 0, current = "intro", answers = {};
  var idleTimer = null, advanceTimer = null;

  function show(id) {
    all(".screen").forEach(function (s) { s.hidden = s.id !== id; });
    current = id;
    var heading = $(id).querySelector("h1, legend");
    if (heading && heading.focus) heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    armIdle();
  }

  /* A kiosk is shared: a questionnaire left half-done goes back to the rating page
     with nothing of it kept, and so does the thank-you screen after a moment. */
  function armIdle() {
    clearTimeout(idleTimer);
    if (!KIOSK) return;
    if (current === "done") idleTimer = setTimeout(home, cfg.thanks_seconds * 1000);
    else idleTimer = setTimeout(home, cfg.idle_seconds * 1000);
  }
  function home() { location.replace(cfg.urls.back); }
  if (KIOSK) {
    ["pointerdown", "keydown", "input"].forEach(function (ev) {
      document.addEventListener(ev, armIdle, true);
    });
  }

  function answerOf(fs) {
    var type = fs.getAttribute("data-type");
    if (type === "text") {
      var v = fs.querySelector("textarea").value;
      return v.trim() ? v : null;
    }
    var on = all("[aria-pressed=true]", fs).map(function (b) { return b.getAttribute("data-value"); });
    if (type === "multi") return on.length ? on : null;
    if (!on.length) return null;
    return type === "scale" ? Number(on[0]) : on[0];
  }

  function showQuestion(i) {
    index = i;
    questions.forEach(function (fs, n) { fs.hidden = n !== i; });
    var s = cfg.strings[lang], fs = questions[i], last = i === questions.length - 1;
    $("progress").value = i + 1;
    $("progress-text").textContent = fill(s.progress);
    $("prev").hidden = i === 0;
    var key = last ? "submit" : (answerOf(fs) == null && !fs.hasAttribute("data-required") ? "skip" : "next");
    $("next").setAttribute("data-t", key);
    $("next").textContent = s[key];
    $("next").className = last ? "primary send" : "primary";
    $("ask-error").textContent = "";
  }

  function go(i) {
    clearTimeout(advanceTimer);
    showQuestion(i);
    show("ask");
  }

  function changed(fs) {
    var value = answerOf(fs);
    if (value == null) delete answers[fs.getAttribute("data-q")];
    else answers[fs.getAttribute("data-q")] = value;
    showQuestion(index);
  }

  questions.forEach(function (fs) {
    var type = fs.getAttribute("data-type");
    all("button[data-value]", fs).forEach(function (btn) {
      btn.addEventListener("click", function () {
        if (type === "multi") {
          btn.setAttribute("aria-pressed", btn.getAttribute("aria-pressed") === "true" ? "false" : "true");
          changed(fs);
          return;
        }
        all("button[data-value]", fs).forEach(function (b) {
          b.setAttribute("aria-pressed", b === btn ? "true" : "false");
        });
        changed(fs);
        // One tap answers a scale or a single choice: on to the next question.
        var at = index;
        clearTimeout(advanceTimer);
        if (at < questions.length - 1) {
          advanceTimer = setTimeout(function () { if (index === at && current === "ask") go(at + 1); }, ADVANCE_MS);
        }
      });
    });
    var area = fs.querySelector("textarea");
    if (area) area.addEventListener("input", function () { counter(area); changed(fs); });
  });

  function counter(area) {
    var n = cfg.text_max - area.value.length;
    area.parentNode.querySelector(".count").textContent = cfg.strings[lang].chars_left.replace("{n}", n);
  }
  all(".question textarea").forEach(counter);

  $("begin").addEventListener("click", function () { go(0); });
  $("prev").addEventListener("click", function () { if (index > 0) go(index - 1); });
  $("next").addEventListener("click", function () {
    var fs = questions[index];
    if (fs.hasAttribute("data-required") && answerOf(fs) == null) {
      $("ask-error").textContent = cfg.strings[lang].need_answer;
      return;
    }
    if (index < questions.length - 1) go(index + 1);
    else submit();
  });

  var KEY = cfg.slug + "@" + cfg.version;
  function submit() {
    var first = null;
    questions.forEach(function (fs) {
      if (first === null && fs.hasAttribute("data-required") && answerOf(fs) == null) first = fs;
    });
    if (first) {  // (never, as 下一题 checks each; but a page must not send a bad answer)
      go(questions.indexOf(first));
      $("ask-error").textContent = cfg.strings[lang].need_answer;
      return;
    }
    var body = { client_id: newId(), answers: answers, channel: cfg.channel,
                 version: cfg.version, created_at: tapTime() };
    if (cfg.window) body.window = cfg.window;
    if (!KIOSK) {  // this phone has answered: say so if it comes back, even offline
      var done = load(ANSWERED, {});
      done[KEY] = body.created_at;
      save(ANSWERED, done);
    }
    enqueue(body);
    answers = {};
    show("done");
    $("done-queued").hidden = !(failures > 0 || navigator.onLine === false);
  }

  /* ---- the indicator: answers not yet sent (a rating queued by a rating page is
     that page's to send and to show) ---- */
  function showStatus() {
    var n = items().filter(ours).length, bar = $("status"), s = cfg.strings[lang];
    var down = failures > 0 || navigator.onLine === false;
    bar.hidden = n === 0 && !down;
    bar.className = "status" + (down ? " offline" : "");
    $("status-text").textContent = (down ? s.offline + " · " : "") + (n ? s.queued + " " + n : "");
    if (current === "done" && !n) $("done-queued").hidden = true;
  }

  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(cfg.urls.sw).catch(noop);
  }

  if (cfg.lang !== lang && cfg.strings[cfg.lang]) setLang(cfg.lang);
  if (!KIOSK && (cfg.answered || load(ANSWERED, {})[KEY])) show("already");
  syncClock();
  pump();
  setInterval(pump, 30000);
})();
