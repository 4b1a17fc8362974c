// Need detail page: small conveniences on top of forms that work without JavaScript.
(function () {
  "use strict";

  // Reply: the follow-up date matters only for 创造条件推动 (planned); without JS it is always shown.
  function syncFollowup(form) {
    var box = form.querySelector("[data-followup]");
    if (!box) return;
    var checked = form.querySelector("input[name=outcome]:checked");
    var input = box.querySelector("input");
    var show = checked && checked.value === "planned";
    box.hidden = !show && !(input && input.value);
  }

  // Callback: with 无法联系 (unreachable) there is no verdict, so the two answers stay blank.
  function syncVerdict(form) {
    var channel = form.querySelector("select[name=channel]");
    var box = form.querySelector("[data-verdict]");
    if (!channel || !box) return;
    var unreachable = channel.value === "unreachable";
    box.querySelectorAll("select").forEach(function (select) {
      if (unreachable) select.value = "";
      select.disabled = unreachable;
    });
  }

  // Assign: the lead unit cannot be a co unit as well.
  function syncCoUnits(form) {
    var lead = form.querySelector("select[name=lead_unit]");
    if (!lead) return;
    form.querySelectorAll("[data-co-units] input[type=checkbox]").forEach(function (box) {
      var same = box.value === lead.value;
      if (same) box.checked = false;
      box.disabled = same;
    });
  }

  function init(root) {
    root.querySelectorAll("form[data-form=assign]").forEach(function (form) {
      syncCoUnits(form);
      form.addEventListener("change", function () { syncCoUnits(form); });
    });
    root.querySelectorAll("form[data-form=reply]").forEach(function (form) {
      syncFollowup(form);
      form.addEventListener("change", function () { syncFollowup(form); });
    });
    root.querySelectorAll("form[data-form=callback]").forEach(function (form) {
      syncVerdict(form);
      form.addEventListener("change", function () { syncVerdict(form); });
    });
  }

  // Merge: picking a suggestion fills in the target's ledger number.
  document.addEventListener("click", function (event) {
    var item = event.target.closest("[data-merge-into]");
    if (!item) return;
    var form = item.closest("form");
    var input = form && form.querySelector("input[name=into]");
    if (input) {
      input.value = item.getAttribute("data-merge-into");
      input.focus();
    }
    var list = item.closest("#merge-suggestions");
    if (list) list.innerHTML = "";
  });

  // A page shown again after a refused submit: bring the message into view.
  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    var alert = document.querySelector("[data-testid=action-alert]");
    var open = document.querySelector(".wx-action[open] .is-invalid, .wx-action[open] .invalid-feedback");
    var target = alert || open;
    if (!target) return;
    var box = target.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      target.scrollIntoView({ block: alert ? "start" : "center" });
    }
  });
})();
