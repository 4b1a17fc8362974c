// 台账 导出 menu: the export carries the filters the page shows now (htmx changes them without
// reloading the page), and at least one column.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "ledger-export") return;
    var chosen = form.querySelectorAll('input[name="columns"]:checked').length;
    var warning = form.querySelector("[data-export-none-warning]");
    if (!chosen) {
      event.preventDefault();
      if (warning) warning.hidden = false;
      return;
    }
    if (warning) warning.hidden = true;
    var filters = document.getElementById("ledger-filters");
    if (!filters) return;
    var params = new URLSearchParams();
    new FormData(filters).forEach(function (value, key) {
      if (key !== "cursor" && typeof value === "string" && value.trim()) params.append(key, value);
    });
    var query = params.toString();
    form.action = form.getAttribute("data-base-action") + (query ? "?" + query : "");
  });

  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element && event.target.closest("[data-export-check]");
    if (!link) return;
    event.preventDefault();
    var on = link.getAttribute("data-export-check") === "all";
    link.closest("form").querySelectorAll('input[name="columns"]').forEach(function (box) {
      box.checked = on;
    });
  });
})();
