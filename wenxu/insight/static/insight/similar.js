// 相似诉求 on the need page: "合并" opens this page's merge form with the similar need as the
// target. Without JavaScript the link opens the merge form and the number is typed by hand.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-wx-similar-merge]");
    if (!link) return;
    var panel = document.getElementById("act-merge");
    var input = panel && panel.querySelector("input[name=into]");
    if (!input) return; // no merge form on this page: follow the link
    event.preventDefault();
    panel.open = true;
    input.value = link.getAttribute("data-wx-similar-merge");
    var list = panel.querySelector("#merge-suggestions");
    if (list) list.innerHTML = "";
    panel.scrollIntoView({ block: "center" });
    input.focus();
  });
})();
