/* On every page of a signed-in user: the service worker, the "待同步 N" badge, and the
 * triggers that sync the outbox (page load, the `online` event, every 30 s while drafts
 * wait). On logout the cached pages (they carry this user's areas, places and colleagues) are
 * always deleted; the drafts too, unless some are still waiting: then the user is warned and
 * the drafts are kept for their author's next sign-in (ADR 0009).
 */
(function () {
  "use strict";
  var outbox = window.WenxuOutbox;
  var holder = document.getElementById("wx-pwa");
  if (!outbox || !holder) {
    return;
  }
  var username = outbox.user();
  var INTERVAL_MS = 30 * 1000;
  var WARM_EVERY_MS = 10 * 60 * 1000;

  function attr(name) {
    return holder.getAttribute(name) || "";
  }

  // ---------------------------------------------------------------- badge

  function refreshBadge() {
    var badge = document.querySelector("[data-wx-outbox-badge]");
    if (!badge || !username) {
      return Promise.resolve(0);
    }
    return outbox.pendingCount(username).then(function (n) {
      var count = badge.querySelector("[data-wx-outbox-count]");
      if (count) {
        count.textContent = String(n);
      }
      badge.hidden = n === 0;
      return n;
    });
  }

  // ---------------------------------------------------------------- service worker

  function warm(registration) {
    // Refresh the cached capture pages for whoever is signed in now (at most every 10 min).
    var key = "wx-warm";
    var last = {};
    try {
      last = JSON.parse(localStorage.getItem(key) || "{}");
    } catch (e) {
      last = {};
    }
    if (last.user === username && Date.now() - (last.at || 0) < WARM_EVERY_MS) {
      return;
    }
    var worker = registration.active || registration.waiting || registration.installing;
    if (worker && navigator.onLine) {
      worker.postMessage({ type: "warm" });
      localStorage.setItem(key, JSON.stringify({ user: username, at: Date.now() }));
    }
  }

  function register() {
    var url = attr("data-sw");
    if (!("serviceWorker" in navigator) || !url || !username || !window.isSecureContext) {
      return;
    }
    navigator.serviceWorker
      .register(url, { scope: "/" })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(warm)
      .catch(function () {
        /* no offline support in this browser: the pages still work online */
      });
  }

  // ---------------------------------------------------------------- sync triggers

  function syncSoon() {
    if (!username || !navigator.onLine) {
      return;
    }
    outbox.syncAll().then(refreshBadge, refreshBadge);
  }

  function tick() {
    refreshBadge().then(function (n) {
      if (n > 0) {
        syncSoon();
      }
    });
  }

  // ---------------------------------------------------------------- logout

  /* Delete the caches whose names start with `prefix` ("wenxu-" for all of them). */
  function clearCaches(prefix) {
    try {
      localStorage.removeItem("wx-warm");
    } catch (e) {
      /* private mode */
    }
    if (!("caches" in window)) {
      return Promise.resolve();
    }
    return caches.keys().then(function (names) {
      return Promise.all(
        names
          .filter(function (name) {
            return name.indexOf(prefix) === 0;
          })
          .map(function (name) {
            return caches["delete"](name);
          })
      );
    });
  }

  function clearDevice() {
    return Promise.all([outbox.clearUser(username), clearCaches("wenxu-")]);
  }

  function guardLogout(form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-wx-cleared") === "1") {
        return;
      }
      event.preventDefault();
      outbox
        .pendingCount(username)
        .then(function (n) {
          if (n > 0) {
            var text = attr("data-msg-logout-pending").replace("__N__", String(n));
            if (!window.confirm(text)) {
              return false;
            }
            // Keep the drafts for next time, not the pages: the next person to pick up the
            // phone must not be served this user's pages (the author gets them back, fresh,
            // on signing in again).
            return clearCaches("wenxu-pages-").then(function () {
              return true;
            });
          }
          return clearDevice().then(function () {
            return true;
          });
        })
        .catch(function () {
          return true;
        })
        .then(function (go) {
          if (go) {
            form.setAttribute("data-wx-cleared", "1");
            form.submit();
          }
        });
    });
  }

  // ---------------------------------------------------------------- start

  document.querySelectorAll("form[data-wx-logout]").forEach(guardLogout);
  if (!username) {
    return;
  }
  register();
  window.addEventListener("wx-outbox", refreshBadge);
  window.addEventListener("online", syncSoon);
  window.addEventListener("focus", refreshBadge);
  syncSoon();
  refreshBadge();
  window.setInterval(tick, INTERVAL_MS);
})();
