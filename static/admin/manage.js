// Hall management (窗口与人员): say at once when a chosen photo is too large, before
// it is uploaded (the server checks again and refuses it anyway).
(function () {
  "use strict";
  var input = document.querySelector("input[type=file][data-max-bytes]");
  if (!input) return;
  var error = document.getElementById("photo-error");
  function check() {
    var file = input.files && input.files[0];
    var tooBig = !!file && file.size > Number(input.getAttribute("data-max-bytes"));
    error.textContent = tooBig ? input.getAttribute("data-too-big") : "";
    error.hidden = !tooBig;
    return !tooBig;
  }
  input.addEventListener("change", check);
  input.form.addEventListener("submit", function (ev) { if (!check()) ev.preventDefault(); });
})();
