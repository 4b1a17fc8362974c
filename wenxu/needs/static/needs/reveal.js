// 查看完整信息 on the need page (issue #9): a refused reason (422) comes back as the form with its
// message, which htmx would not swap in by default. A revealed requester leaves the page when
// the user leaves it: the back/forward cache must not keep the unmasked values.
(function () {
  "use strict";
  if (window.wxRevealReady) return;
  window.wxRevealReady = true;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status === 422 && target instanceof Element && target.closest("[data-wx-reveal]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  window.addEventListener("pagehide", function () {
    document.querySelectorAll("[data-wx-revealed]").forEach(function (card) {
      card.remove();
    });
  });
})();
