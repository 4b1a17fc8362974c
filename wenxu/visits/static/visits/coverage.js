// 走访覆盖: show the custom dates only when the period is "custom"; other choices apply at once.
(function () {
  "use strict";
  var form = document.querySelector("[data-coverage-filters]");
  if (!form) return;
  var select = form.querySelector("[data-period-select]");
  var dates = form.querySelectorAll("[data-custom-dates]");
  function sync() {
    var custom = select.value === "custom";
    dates.forEach(function (el) { el.hidden = !custom; });
    return custom;
  }
  select.addEventListener("change", function () {
    if (!sync()) form.requestSubmit();
  });
  form.querySelector("#cov-area").addEventListener("change", function () {
    if (select.value !== "custom") form.requestSubmit();
  });
  sync();
})();
