/* The paired tablet's heartbeat (kiosk/devices.py): on load, when back online and every
 * cfg.heartbeat_seconds: the page's version and how many items wait in the outbox
 * (rate.js keeps the count on <body data-queued>). A 403 (not paired, or revoked)
 * shows the pairing notice; queued ratings stay queued. ES5, like rate.js. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("config").textContent);
  if (!cfg.urls.heartbeat) return;
  var busy = false;

  function beat() {
    if (busy) return;
    busy = true;
    var n = parseInt(document.body.getAttribute("data-queued"), 10) || 0;
    fetch(cfg.urls.heartbeat, {
      method: "POST", cache: "no-store", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ version: cfg.app_version, queued: n })
    }).then(function (resp) {
      var note = document.getElementById("unpaired");
      if (note && (resp.ok || resp.status === 403)) note.hidden = resp.ok;
    }).catch(function () { /* offline: the next beat */ })
      .then(function () { busy = false; });
  }

  window.addEventListener("online", beat);
  setInterval(beat, Math.max(5, cfg.heartbeat_seconds) * 1000);
  beat();
})();
