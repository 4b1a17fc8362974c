/* wenxu's service worker (ADR 0009). Served by the view at /sw.js, which puts `WX` above this
 * source: the version (a hash of this file and the files it caches), the static URLs of the
 * app shell as Django's static() names them, the capture pages, and the offline texts.
 *
 * - The shell's static files: cache first (versioned by name, or by the cache's version).
 * - The capture pages and the outbox: network first, then the cached copy; the copy is
 *   refreshed on every successful visit, and deleted whenever the network answers with
 *   anything else (403, a redirect to the login page, an error): a page cached for one user
 *   must never be served to another. /needs/new/ offline gets the offline need page.
 * - Any other page: network only, an offline notice when there is none.
 * - The API and everything else: never touched, never cached (needs' data stays on the server).
 */
/* global WX */
"use strict";

var PREFIX = "wenxu-";
var STATIC_CACHE = PREFIX + "static-" + WX.version;
var PAGES_CACHE = PREFIX + "pages-" + WX.version;
var NETWORK_TIMEOUT_MS = 6000;

function cacheable(response) {
  return response && response.ok && response.type === "basic" && !response.redirected;
}

function cachePages() {
  return caches.open(PAGES_CACHE).then(function (cache) {
    return Promise.all(
      WX.pages.map(function (url) {
        return fetch(url, { credentials: "same-origin", cache: "no-store" })
          .then(function (response) {
            // Signed out (a redirect to the login page) or not allowed: the old copy goes too.
            return cacheable(response) ? cache.put(url, response) : cache["delete"](url);
          })
          .catch(function () {
            return null;
          });
      })
    );
  });
}

function precache() {
  return caches
    .open(STATIC_CACHE)
    .then(function (cache) {
      return cache.addAll(WX.static);
    })
    .then(cachePages);
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    precache().then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches
      .keys()
      .then(function (names) {
        return Promise.all(
          names
            .filter(function (name) {
              return name.indexOf(PREFIX) === 0 && name !== STATIC_CACHE && name !== PAGES_CACHE;
            })
            .map(function (name) {
              return caches["delete"](name);
            })
        );
      })
      .then(function () {
        return self.clients.claim();
      })
  );
});

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "warm") {
    event.waitUntil(precache().catch(function () {}));
  } else if (data.type === "clear") {
    event.waitUntil(
      caches.keys().then(function (names) {
        return Promise.all(
          names
            .filter(function (name) {
              return name.indexOf(PREFIX) === 0;
            })
            .map(function (name) {
              return caches["delete"](name);
            })
        );
      })
    );
  }
});

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}

function offlinePage() {
  var css = WX.static[0];
  var links = WX.offline.links
    .map(function (link) {
      return '<a class="btn btn-outline-primary btn-lg" href="' + escapeHtml(link[0]) + '">' + escapeHtml(link[1]) + "</a>";
    })
    .join("");
  var html =
    '<!doctype html><html lang="zh-hans"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    "<title>" + escapeHtml(WX.offline.title) + "</title>" +
    '<link rel="stylesheet" href="' + escapeHtml(css) + '"></head>' +
    '<body class="bg-body-tertiary"><main class="container py-4" style="max-width:32rem">' +
    '<h1 class="h4">' + escapeHtml(WX.offline.title) + "</h1>" +
    '<p class="text-body-secondary">' + escapeHtml(WX.offline.body) + "</p>" +
    '<div class="d-grid gap-2">' + links + "</div></main></body></html>";
  return new Response(html, {
    status: 503,
    headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" }
  });
}

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () {
      reject(new Error("timeout"));
    }, ms);
    promise.then(
      function (value) {
        clearTimeout(timer);
        resolve(value);
      },
      function (error) {
        clearTimeout(timer);
        reject(error);
      }
    );
  });
}

function navigate(request, url) {
  var shell = WX.pages.indexOf(url.pathname) >= 0;
  var alias = WX.aliases[url.pathname];
  var network = fetch(request);
  var attempt = shell || alias ? withTimeout(network, NETWORK_TIMEOUT_MS) : network;
  return attempt
    .then(function (response) {
      if (shell) {
        // Kept when it is the page itself; otherwise (403, a login redirect, an error page:
        // someone else may be signed in now) the copy kept for the last user is dropped.
        var copy = cacheable(response) ? response.clone() : null;
        var update = caches.open(PAGES_CACHE).then(function (cache) {
          return copy ? cache.put(url.pathname, copy) : cache["delete"](url.pathname);
        });
        if (!copy) {
          return update.then(function () {
            return response;
          });
        }
      }
      return response;
    })
    .catch(function () {
      var key = shell ? url.pathname : alias;
      if (!key) {
        return offlinePage();
      }
      return caches
        .open(PAGES_CACHE)
        .then(function (cache) {
          return cache.match(key);
        })
        .then(function (cached) {
          return cached || offlinePage();
        });
    });
}

function staticFirst(request) {
  return caches.match(request).then(function (cached) {
    if (cached) {
      return cached;
    }
    return fetch(request).then(function (response) {
      if (cacheable(response)) {
        var copy = response.clone();
        caches.open(STATIC_CACHE).then(function (cache) {
          return cache.put(request, copy);
        });
      }
      return response;
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return;
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf(WX.apiPrefix) === 0) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(navigate(request, url));
  } else if (WX.static.indexOf(url.pathname) >= 0) {
    event.respondWith(staticFirst(request));
  } else if (url.pathname.indexOf(WX.staticPrefix) === 0) {
    // Other static files: the network, or whatever copy there is when offline.
    event.respondWith(
      fetch(request).catch(function () {
        return caches.match(request).then(function (cached) {
          return cached || Response.error();
        });
      })
    );
  }
});
