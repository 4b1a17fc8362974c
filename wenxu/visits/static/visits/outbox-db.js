/* 待同步 (outbox), part 1 of 3: the drafts kept in IndexedDB (ADR 0009). Plain JavaScript, no
 * build step. Loaded on every page, before outbox-bodies.js, outbox-sync.js and pwa.js; each
 * part adds its functions to window.WenxuOutbox.
 *
 * A draft is one visit (with its needs) or one need, keyed by its client UUID, with the
 * username of whoever recorded it, its state (waiting | syncing | error | conflict), the JSON
 * body to send, per-field errors, the server's ids, the photos as Blobs (each with its own
 * client UUID and target), and `editing` (when a capture page opened it to be changed: the
 * sync leaves it alone meanwhile). Only drafts of the signed-in user are ever listed.
 */
(function () {
  "use strict";

  var DB_NAME = "wenxu-outbox";
  var DB_VERSION = 1;
  var RECEIPTS_KEPT = 20;
  var dbPromise = null;
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("wx-outbox") : null;
  var persistAsked = false;

  function msg(key, fallback) {
    var holder = document.getElementById("wx-pwa");
    return (holder && holder.getAttribute("data-msg-" + key)) || fallback || key;
  }

  function user() {
    return document.body ? document.body.getAttribute("data-wx-user") || "" : "";
  }

  // ------------------------------------------------------------------ IndexedDB

  function openDb() {
    if (dbPromise) {
      return dbPromise;
    }
    dbPromise = new Promise(function (resolve, reject) {
      if (!("indexedDB" in window)) {
        reject(new Error("IndexedDB unavailable"));
        return;
      }
      var request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains("drafts")) {
          db.createObjectStore("drafts", { keyPath: "uuid" }).createIndex("username", "username");
        }
        if (!db.objectStoreNames.contains("receipts")) {
          db.createObjectStore("receipts", { keyPath: "uuid" }).createIndex("username", "username");
        }
      };
      request.onsuccess = function () {
        var db = request.result;
        db.onversionchange = function () {
          db.close();
          dbPromise = null;
        };
        resolve(db);
      };
      request.onerror = function () {
        dbPromise = null;
        reject(request.error);
      };
    });
    return dbPromise;
  }

  function run(store, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode);
        var result;
        tx.oncomplete = function () {
          resolve(result);
        };
        tx.onerror = tx.onabort = function () {
          reject(tx.error);
        };
        var request = work(tx.objectStore(store));
        if (request) {
          request.onsuccess = function () {
            result = request.result;
          };
        }
      });
    });
  }

  function get(uuid) {
    return run("drafts", "readonly", function (s) {
      return s.get(uuid);
    });
  }

  function put(draft) {
    draft.updated = new Date().toISOString();
    return run("drafts", "readwrite", function (s) {
      return s.put(draft);
    }).then(function () {
      return draft;
    });
  }

  function remove(uuid) {
    return run("drafts", "readwrite", function (s) {
      return s["delete"](uuid);
    }).then(changed);
  }

  function byUser(store, username) {
    return run(store, "readonly", function (s) {
      return s.index("username").getAll(username === undefined ? user() : username);
    }).then(function (rows) {
      return (rows || []).sort(function (a, b) {
        return (b.created || b.syncedAt || "").localeCompare(a.created || a.syncedAt || "");
      });
    });
  }

  function list(username) {
    return byUser("drafts", username);
  }

  function receipts(username) {
    return byUser("receipts", username);
  }

  function addReceipt(draft) {
    var receipt = {
      uuid: draft.uuid,
      username: draft.username,
      mode: draft.mode,
      label: draft.label || "",
      url: draft.serverUrl || "",
      syncedAt: new Date().toISOString()
    };
    return run("receipts", "readwrite", function (s) {
      return s.put(receipt);
    })
      .then(function () {
        return receipts(draft.username);
      })
      .then(function (rows) {
        var old = rows.slice(RECEIPTS_KEPT);
        if (!old.length) {
          return null;
        }
        return run("receipts", "readwrite", function (s) {
          old.forEach(function (row) {
            s["delete"](row.uuid);
          });
        });
      });
  }

  /* Everything this user left on the device (logout on a shared phone), drafts included. */
  function clearUser(username) {
    return Promise.all([list(username), receipts(username)]).then(function (found) {
      return Promise.all([
        run("drafts", "readwrite", function (s) {
          found[0].forEach(function (d) {
            s["delete"](d.uuid);
          });
        }),
        run("receipts", "readwrite", function (s) {
          found[1].forEach(function (r) {
            s["delete"](r.uuid);
          });
        })
      ]);
    });
  }

  function pendingCount(username) {
    return list(username)
      .then(function (rows) {
        return rows.length;
      })
      .catch(function () {
        return 0;
      });
  }

  function changed() {
    window.dispatchEvent(new CustomEvent("wx-outbox"));
    if (channel) {
      channel.postMessage("changed");
    }
  }
  if (channel) {
    channel.onmessage = function () {
      window.dispatchEvent(new CustomEvent("wx-outbox"));
    };
  }

  /* Mark a draft as open in a capture page (true) or no longer (false). */
  function setEditing(uuid, on) {
    return get(uuid).then(function (draft) {
      if (!draft || draft.username !== user()) {
        return draft || null;
      }
      draft.editing = on ? new Date().toISOString() : null;
      return put(draft).then(function () {
        changed();
        return draft;
      });
    });
  }

  /* Ask the browser not to evict the drafts under storage pressure (once per page). */
  function persist() {
    if (persistAsked || !navigator.storage || !navigator.storage.persist) {
      return;
    }
    persistAsked = true;
    navigator.storage.persist().catch(function () {
      /* refused or unsupported: the drafts are kept as best effort */
    });
  }

  window.WenxuOutbox = {
    msg: msg,
    user: user,
    get: get,
    put: put,
    remove: remove,
    list: list,
    receipts: receipts,
    addReceipt: addReceipt,
    clearUser: clearUser,
    pendingCount: pendingCount,
    setEditing: setEditing,
    persist: persist,
    changed: changed
  };
})();
