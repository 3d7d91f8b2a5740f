// Small progressive enhancements for the back office (no inline script: the admin's
// Content-Security-Policy forbids it).
(function () {
  "use strict";
  // <select data-autosubmit> submits its form when changed (filters on list pages).
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el && el.matches && el.matches("[data-autosubmit]") && el.form) el.form.submit();
  });
  // <button data-confirm="…"> asks before submitting.
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-confirm]") : null;
    if (el && !window.confirm(el.getAttribute("data-confirm"))) ev.preventDefault();
  });
  // <button data-print> prints the page.
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[data-print]") : null;
    if (el) { ev.preventDefault(); window.print(); }
  });
})();
