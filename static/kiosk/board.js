/* The hall display board: fetch the figures every data-refresh seconds and update the
   page in place. A failed fetch (server restarting, Wi-Fi gone) keeps the last figures
   on screen, shows a small marker and tries again; the page itself never reloads, so
   the TV never lands on an error page. Plain ES5 for old TV browsers. */
(function () {
  "use strict";
  var body = document.body;
  var source = body.getAttribute("data-source");
  var every = (parseFloat(body.getAttribute("data-refresh")) || 60) * 1000;
  var retry = Math.min(every, 15000); // after a failure, try again sooner
  var offline = document.getElementById("offline");
  var list = document.getElementById("leaders");
  var none = document.getElementById("no-leaders");

  function fixed(value, unit) {
    return value === null || value === undefined ? "\u2014" : value.toFixed(1) + (unit || "");
  }

  var FORMATS = {
    "satisfaction": function (v) { return fixed(v); },
    "good_rate": function (v) { return fixed(v, "%"); }
  };

  function lookup(data, path) {
    var parts = path.split("."), value = data;
    for (var i = 0; i < parts.length && value !== undefined && value !== null; i++) {
      value = value[parts[i]];
    }
    return value;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function leaderRow(w) {
    var li = el("li", "row rank" + w.rank);
    li.appendChild(el("span", "rank", String(w.rank)));
    var win = el("span", "win");
    win.appendChild(el("b", "wname", w.name));
    win.appendChild(el("span", "wsub", w.window + " · " + w.department));
    li.appendChild(win);
    var clerk = el("span", "clerk");
    if (w.photo) {
      var img = el("img", "face");
      img.src = w.photo;
      img.alt = "";
      clerk.appendChild(img);
    } else if (w.staff) {
      clerk.appendChild(el("span", "face", w.staff.charAt(0)));
    }
    var who = el("span", "who");
    if (w.staff) {
      who.appendChild(el("b", null, w.staff));
      who.appendChild(el("span", "no", "工号 " + w.staff_no));
    } else {
      who.appendChild(el("span", "no", "暂无人员挂牌"));
    }
    clerk.appendChild(who);
    li.appendChild(clerk);
    var score = el("span", "score");
    score.appendChild(el("b", null, fixed(w.satisfaction)));
    score.appendChild(el("span", "n", w.ratings + " 条评价"));
    li.appendChild(score);
    return li;
  }

  /* 事项公示: while the figures stay the same (the board is idle), it shows the
     leaders for data-dwell seconds, then each page of the hall's service items for
     data-page seconds, and round again; changed figures bring the leaders back. */
  var leadersBox = document.querySelector("section.leaders");
  var itemsBox = document.getElementById("items");
  var cards = document.getElementById("item-cards");
  var pageMark = document.getElementById("items-page");
  var dwell = (parseFloat(body.getAttribute("data-dwell")) || 20) * 1000;
  var pageMs = (parseFloat(body.getAttribute("data-page")) || 10) * 1000;
  var perPage = parseInt(body.getAttribute("data-per-page"), 10) || 4;
  var DOCS_SHOWN = 6;
  var items = [];
  try { items = JSON.parse(document.getElementById("board-items").textContent) || []; } catch (e) { items = []; }
  var page = -1, turn = null, shown = null;

  function itemCard(it) {
    var li = el("li", "item-card");
    li.appendChild(el("b", "iname", it.name));
    var facts = el("span", "ifacts");
    if (it.time_limit) { facts.appendChild(el("span", "ilimit", "办理时限：" + it.time_limit)); }
    if (it.windows && it.windows.length) {
      facts.appendChild(el("span", "iwin", "办理窗口：" + it.windows.join("、")));
    }
    li.appendChild(facts);
    var docs = it.documents || [];
    if (docs.length) {
      li.appendChild(el("span", "dhead", "所需材料"));
      var list = el("ol", "docs");
      for (var i = 0; i < docs.length && i < DOCS_SHOWN; i++) { list.appendChild(el("li", null, docs[i])); }
      li.appendChild(list);
      if (docs.length > DOCS_SHOWN) { li.appendChild(el("span", "dmore", "等 " + docs.length + " 项材料")); }
    }
    return li;
  }

  function show(n) {
    var pages = Math.ceil(items.length / perPage);
    page = n < pages ? n : -1;
    leadersBox.hidden = page >= 0;
    itemsBox.hidden = page < 0;
    if (page < 0) { return; }
    var part = document.createDocumentFragment();
    for (var i = page * perPage; i < items.length && i < (page + 1) * perPage; i++) {
      part.appendChild(itemCard(items[i]));
    }
    while (cards.firstChild) { cards.removeChild(cards.firstChild); }
    cards.appendChild(part);
    pageMark.textContent = pages > 1 ? (page + 1) + " / " + pages : "";
  }

  function step() {
    show(page + 1);
    turn = window.setTimeout(step, page < 0 ? dwell : pageMs);
  }

  function restart() {
    window.clearTimeout(turn);
    show(-1);
    turn = window.setTimeout(step, dwell);
  }

  function render(data) {
    items = data.items || [];
    var figures = JSON.stringify([data.today, data.this_week, data.leaders]);
    if (shown !== null && figures !== shown) { restart(); }
    shown = figures;
    var fields = document.querySelectorAll("[data-f]");
    for (var i = 0; i < fields.length; i++) {
      var path = fields[i].getAttribute("data-f");
      var value = lookup(data, path);
      var format = FORMATS[path.split(".").pop()];
      var text = format ? format(value) : (value === null || value === undefined ? "" : String(value));
      if (fields[i].textContent !== text) { fields[i].textContent = text; }
    }
    var leaders = data.leaders || [];
    var rows = document.createDocumentFragment();
    for (var j = 0; j < leaders.length; j++) { rows.appendChild(leaderRow(leaders[j])); }
    while (list.firstChild) { list.removeChild(list.firstChild); }
    list.appendChild(rows);
    none.hidden = leaders.length > 0;
    if (data.hall) { document.title = "好差评公示 · " + data.hall; }
  }

  function schedule(ms) { window.setTimeout(refresh, ms); }

  function refresh() {
    var xhr = new XMLHttpRequest();
    var done = false;
    function fail() {
      if (done) { return; }
      done = true;
      offline.hidden = false;
      schedule(retry);
    }
    xhr.open("GET", source, true);
    xhr.timeout = 15000;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      if (done) { return; }
      var data = null;
      if (xhr.status === 200) {
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      }
      if (!data || !data.today) { fail(); return; }
      done = true;
      try { render(data); } catch (e) { /* keep what is shown */ }
      offline.hidden = true;
      schedule(every);
    };
    xhr.onerror = fail;
    xhr.ontimeout = fail;
    xhr.onabort = fail;
    xhr.send();
  }

  schedule(every);
  restart();
}());
