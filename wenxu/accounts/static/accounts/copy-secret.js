// Copy a secret shown once (我的令牌, 接口密钥): buttons with data-wx-copy="<id of the input>".
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-wx-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-wx-copy"));
    if (!input) return;
    var done = function () {
      var label = button.getAttribute("data-wx-copied");
      if (label) button.textContent = label;
      button.classList.remove("btn-outline-primary");
      button.classList.add("btn-success");
    };
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        if (document.execCommand("copy")) done();
      });
    } else if (document.execCommand("copy")) {
      done();
    }
  });
})();
