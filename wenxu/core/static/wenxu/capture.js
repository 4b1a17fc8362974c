/* 登记诉求: small helpers for the capture form. Plain JavaScript, no build step.
 * - Enter in a search box searches (htmx) instead of submitting the form.
 * - A switch with data-wx-reveals="<id>" shows that section while it is on.
 * - "获取当前位置" fills latitude and longitude from the browser (navigator.geolocation).
 * - More than the allowed number of files is pointed out at once.
 * - The submit button is disabled after the first tap, so a slow connection does not
 *   register the same need twice.
 * Messages come from data-msg-* attributes, translated on the server.
 */
(function () {
  "use strict";
  var form = document.getElementById("wx-capture");
  if (!form) {
    return;
  }

  form.querySelectorAll("[data-wx-search]").forEach(function (input) {
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
      }
    });
  });

  form.querySelectorAll("[data-wx-reveals]").forEach(function (toggle) {
    var sync = function () {
      var section = document.getElementById(toggle.getAttribute("data-wx-reveals"));
      if (section) {
        section.hidden = !toggle.checked;
      }
    };
    toggle.addEventListener("change", sync);
    sync();
  });

  var locate = form.querySelector("[data-wx-locate]");
  var unlocate = form.querySelector("[data-wx-unlocate]");
  var status = form.querySelector("[data-wx-locate-status]");
  var latitude = document.getElementById("id_latitude");
  var longitude = document.getElementById("id_longitude");
  var say = function (key, accuracy) {
    var text = locate.getAttribute("data-msg-" + key) || "";
    status.textContent = text.replace("{m}", String(accuracy));
    status.className = "small mt-1 " + (key === "ok" ? "text-success" : key === "busy" ? "text-body-secondary" : "text-danger");
  };
  if (locate && latitude && longitude) {
    locate.addEventListener("click", function () {
      if (!window.isSecureContext || !navigator.geolocation) {
        say("unsupported");
        return;
      }
      locate.disabled = true;
      say("busy");
      navigator.geolocation.getCurrentPosition(
        function (position) {
          latitude.value = position.coords.latitude.toFixed(6);
          longitude.value = position.coords.longitude.toFixed(6);
          locate.disabled = false;
          say("ok", Math.round(position.coords.accuracy));
        },
        function (error) {
          locate.disabled = false;
          say(error.code === 1 ? "denied" : error.code === 3 ? "timeout" : "unavailable");
        },
        { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
      );
    });
    unlocate.addEventListener("click", function () {
      latitude.value = "";
      longitude.value = "";
      status.textContent = "";
    });
  }

  var fileInputs = form.querySelectorAll("input[type=file]");
  var warning = form.querySelector("[data-wx-files-warning]");
  var limit = parseInt(form.getAttribute("data-wx-max-files") || "9", 10);
  fileInputs.forEach(function (input) {
    input.addEventListener("change", function () {
      var count = 0;
      fileInputs.forEach(function (each) {
        count += each.files ? each.files.length : 0;
      });
      if (warning) {
        warning.hidden = count <= limit;
      }
    });
  });

  var submit = form.querySelector("[type=submit]");
  var label = submit ? submit.textContent : "";
  form.addEventListener("submit", function () {
    if (submit) {
      submit.disabled = true;
      submit.textContent = submit.getAttribute("data-wx-busy") || label;
    }
  });
  // Back to this page from the browser's cache: the button works again.
  window.addEventListener("pageshow", function () {
    if (submit) {
      submit.disabled = false;
      submit.textContent = label;
    }
  });
})();
