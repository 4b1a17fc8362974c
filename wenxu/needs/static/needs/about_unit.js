/* 登记诉求: the "被批评/投诉单位" field belongs to criticism, complaints and reports only.
 * Shown while one of the kinds listed in data-wx-about-kinds is chosen; otherwise hidden and
 * disabled (so nothing stale is sent). Without JavaScript it is always shown, and the server
 * refuses it for other kinds with a message. Kept shown while it carries an error.
 */
(function () {
  "use strict";
  var block = document.querySelector("[data-wx-about-kinds]");
  var form = document.getElementById("wx-capture");
  if (!block || !form) {
    return;
  }
  var kinds = block.getAttribute("data-wx-about-kinds").split(" ");
  var select = block.querySelector("select");
  var sync = function () {
    var chosen = form.querySelector("input[name='kind']:checked");
    var show = (chosen && kinds.indexOf(chosen.value) !== -1) ||
      (select && select.classList.contains("is-invalid"));
    block.hidden = !show;
    if (select) {
      select.disabled = !show;
    }
  };
  form.querySelectorAll("input[name='kind']").forEach(function (radio) {
    radio.addEventListener("change", sync);
  });
  sync();
})();
