// 月报: a print button (shown only when JavaScript runs; Ctrl+P works without it).
(function () {
  "use strict";
  document.querySelectorAll("[data-wx-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
