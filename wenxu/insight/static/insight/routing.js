// Routing suggestion in the assign form: "采用建议" fills in the category and the lead unit,
// and says which of them it could not fill in (not among the select's options). The dispatcher
// still submits the form: nothing is assigned until they do.
(function () {
  "use strict";

  // "set": the select now shows the value; "missing": the value is not among its options
  // (e.g. a unit this dispatcher may not choose); "none": nothing was suggested for it.
  function choose(select, value) {
    if (!value) return "none";
    if (!select) return "missing";
    var found = Array.prototype.some.call(select.options, function (option) {
      return option.value === value;
    });
    if (!found) return "missing";
    if (select.value !== value) {
      select.value = value;
      // Bubbles to the form: the deadline preview and the co-unit checks follow the change.
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
    return "set";
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-routing-accept]");
    if (!button) return;
    var form = button.closest("form");
    if (!form) return;
    var results = [
      [choose(form.querySelector("select[name=category]"), button.getAttribute("data-category")),
        "data-missing-category"],
      [choose(form.querySelector("select[name=lead_unit]"), button.getAttribute("data-unit")),
        "data-missing-unit"],
    ];
    var applied = results.some(function (r) { return r[0] === "set"; });
    var missing = results.filter(function (r) { return r[0] === "missing"; }).map(function (r) {
      return button.getAttribute(r[1]) || "";
    });
    var text = button.getAttribute("data-done");
    if (missing.length) {
      text = missing.join("") + (applied ? button.getAttribute("data-partial") || "" : "");
    }
    var note = button.closest("[data-testid=routing-suggestion]");
    note = note && note.querySelector("[data-routing-note]");
    if (note && text) {
      note.textContent = text;
      note.classList.toggle("text-body-secondary", !missing.length);
      note.classList.toggle("text-warning-emphasis", missing.length > 0);
    }
    if (applied) {
      button.classList.replace("btn-outline-primary", "btn-primary");
      button.setAttribute("aria-pressed", "true");
    }
  });
})();

// The assign form's deadline preview follows a corrected category: its request carries the
// chosen category, only when it differs from the need's own (so the usual URL stays plain).
(function () {
  "use strict";

  document.addEventListener("htmx:configRequest", function (event) {
    var element = event.detail && event.detail.elt;
    if (!element || element.id !== "assign-preview") return;
    var form = element.closest("form");
    var select = form && form.querySelector("select[name=category]");
    if (!select || !select.value) return;
    var initial = Array.prototype.find.call(select.options, function (option) {
      return option.defaultSelected;
    });
    if (!initial || initial.value !== select.value) {
      event.detail.parameters.category = select.value;
    }
  });
})();
