// 台账 bulk assign. Each need's checkbox appears twice (the table for wide screens, the card
// for phones): keep both in step, count the selection, let the header box select the page, and
// unfold the unit pickers on a phone once something is ticked.
// Listeners sit on the document, so they keep working after htmx swaps the results.
(function () {
  "use strict";

  function boxes(form) {
    return Array.prototype.slice.call(form.querySelectorAll('input[type=checkbox][name="need"]'));
  }

  function refresh(form) {
    var chosen = {};
    boxes(form).forEach(function (box) {
      if (box.checked) chosen[box.value] = true;
    });
    var count = Object.keys(chosen).length;
    var counter = form.querySelector("[data-selected-count]");
    if (counter) counter.textContent = String(count);
    // On a phone the unit pickers are folded away until something is ticked.
    var units = form.querySelector("#bulk-units");
    // (On wider screens the pickers are always shown: opening them there would animate the
    // panel and shift the rows under the pointer.)
    if (count > 0 && units && window.bootstrap && units.offsetHeight === 0) {
      window.bootstrap.Collapse.getOrCreateInstance(units, { toggle: false }).show();
    }
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") return;
    var form = box.closest("#bulk-assign");
    if (!form) return;
    if (box.name === "need") {
      boxes(form).forEach(function (other) {
        if (other.value === box.value) other.checked = box.checked;
      });
    } else if (box.hasAttribute("data-select-all")) {
      boxes(form).forEach(function (other) {
        other.checked = box.checked;
      });
    }
    refresh(form);
  });
})();
