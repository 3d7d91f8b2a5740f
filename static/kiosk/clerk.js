/* The clerk's 请评价 page: opens a service event for the window (its kiosk then invites
 * the citizen to rate) and shows whether the last one has been rated. JSON POSTs with
 * the X-Kiosk-Clerk header (why: kiosk/evaluation_views.py). ES5. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("config").textContent);
  var POLL_MS = 2000;
  function $(id) { return document.getElementById(id); }

  function showLast(last) {
    var state = $("last-state"), what = $("last-what");
    if (!last) {
      state.className = "state"; state.textContent = "暂无"; what.textContent = "";
      return;
    }
    var label = cfg.states[last.state] || [last.state, ""];
    state.className = "state " + last.state;
    state.textContent = label[0];
    state.title = label[1];
    what.textContent = [last.ticket ? "票号 " + last.ticket : "", last.service_item || ""]
      .filter(Boolean).join(" · ");
  }

  function request(method, url, body) {
    var headers = { Accept: "application/json" };
    headers[cfg.header] = "1";
    if (body) headers["Content-Type"] = "application/json";
    return fetch(url, { method: method, headers: headers, cache: "no-store",
                        credentials: "same-origin", body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (d) {
          if (!r.ok) throw new Error(d.error || ("HTTP " + r.status));
          return d;
        });
      });
  }

  $("invite-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var btn = $("invite-btn");
    btn.disabled = true;
    $("clerk-error").textContent = "";
    var body = { ticket: $("ticket").value, service_item: $("service-item").value };
    request("POST", cfg.urls.open, body)
      .then(function (d) {
        showLast(d.last);
        $("ticket").value = "";
      })
      .catch(function (err) {
        $("clerk-error").textContent = "未能发出邀请，请重试（" + err.message + "）";
      })
      .then(function () { setTimeout(function () { btn.disabled = false; }, 1200); });
  });

  function poll() {
    request("GET", cfg.urls.last).then(function (d) { showLast(d.last); }, function () {})
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  showLast(cfg.last);
  setTimeout(poll, POLL_MS);
})();
