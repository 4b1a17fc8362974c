/* 待同步 (outbox), part 3 of 3: sending drafts through the public API (ADR 0009). Needs
 * outbox-db.js and outbox-bodies.js first.
 *
 * POST the body (201 created or 200 replay: both fine), then each photo not yet confirmed.
 * An answer counts only when it is JSON and names this very draft (its client UUID and a
 * server id): a captive portal or a proxy's login page answering 200 with HTML, or a redirect,
 * leaves the draft waiting. 422 → error (fields to fix), 409 → conflict (save as new or
 * discard; for a visit, first asked whether an earlier version of it is on the server),
 * 401 / CSRF → waiting until the user signs in, network or server trouble → waiting, retried.
 * A draft is deleted only when the server has confirmed the record and every photo; a short
 * receipt (link, label) is kept instead. One sync per draft at a time: a promise per UUID in
 * this page and, where the browser has it, a Web Lock across tabs. A draft open in a capture
 * page (`editing`, younger than EDITING_MS) is not sent.
 */
(function () {
  "use strict";
  var outbox = window.WenxuOutbox;
  var msg = outbox.msg;
  var STALE_SYNC_MS = 2 * 60 * 1000;
  var EDITING_MS = 30 * 60 * 1000;
  var inflight = {};

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function urls() {
    var holder = document.getElementById("wx-pwa");
    var read = function (name, fallback) {
      return (holder && holder.getAttribute("data-url-" + name)) || fallback;
    };
    return {
      visits: read("visits", "/api/v1/visits"),
      needs: read("needs", "/api/v1/needs"),
      visitPage: read("visit-page", "/visits/"),
      needPage: read("need-page", "/needs/")
    };
  }

  function same(a, b) {
    return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
  }

  /* One API call. Redirects are not followed; `json` is false for anything but a JSON answer
   * (a Wi-Fi login page, a proxy's error page), whatever its status. */
  function call(method, url, draft, body, isForm) {
    var headers = {
      "Accept": "application/json",
      "Accept-Language": document.documentElement.lang || "zh-hans",
      // Whose draft this is: the API refuses it under anyone else's session (draft_user_mismatch).
      "X-Wenxu-Draft-User": encodeURIComponent(draft.username || "")
    };
    if (method !== "GET") {
      headers["X-CSRFToken"] = csrfToken();
    }
    if (body && !isForm) {
      headers["Content-Type"] = "application/json";
    }
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual",
      headers: headers,
      body: body ? (isForm ? body : JSON.stringify(body)) : undefined
    }).then(function (response) {
      var type = (response.headers.get("Content-Type") || "").toLowerCase();
      var answer = { status: response.status, body: {}, json: false };
      if (response.type === "opaqueredirect" || type.indexOf("application/json") !== 0) {
        return answer;
      }
      return response.json().then(
        function (json) {
          answer.json = !!json && typeof json === "object";
          answer.body = answer.json ? json : {};
          return answer;
        },
        function () {
          return answer;
        }
      );
    });
  }

  function ok(answer) {
    return answer.json && (answer.status === 200 || answer.status === 201);
  }

  /* Does a 200/201 answer to the record's POST name this draft? */
  function recordMatches(draft, body) {
    if (draft.mode === "visit") {
      return same(body.client_uuid, draft.uuid) && typeof body.id === "number";
    }
    // A need's answer does not carry its client_uuid (yet): when it does, it must match.
    var uuidOk = body.client_uuid === undefined || body.client_uuid === null || same(body.client_uuid, draft.uuid);
    return uuidOk && typeof body.number === "string" && body.number.indexOf("WX-") === 0;
  }

  function photoForm(photo) {
    var form = new FormData();
    form.append("file", photo.blob, photo.name || "photo.jpg");
    form.append("client_uuid", photo.uuid);
    return form;
  }

  function store(draft) {
    return outbox.put(draft).then(function () {
      outbox.changed();
      return draft;
    });
  }

  /* An answer that is not a success: what the draft becomes. */
  function settle(draft, answer) {
    var body = answer.body || {};
    if (!answer.json) {
      // Not our API speaking (a Wi-Fi login page, a proxy): nothing is known to be stored.
      draft.state = "waiting";
      draft.message = answer.status >= 500 ? msg("server") : msg("captive", "网络异常（可能需要登录 Wi-Fi），稍后自动重试。");
    } else if (answer.status === 409 && body.code === "draft_user_mismatch") {
      draft.state = "waiting";
      draft.needsLogin = true;
      draft.message = msg("other-user", "此记录由 __USER__ 记录，请由其本人登录后同步。").replace("__USER__", draft.username);
    } else if (answer.status === 422 || answer.status === 404 || (answer.status === 403 && body.code !== "csrf_failed")) {
      draft.state = "error";
      draft.errors = body.errors || {};
      draft.message = body.message || msg("error");
    } else if (answer.status === 409) {
      draft.state = draft.serverId ? "error" : "conflict";
      draft.message = body.message || msg("conflict");
      if (draft.state === "conflict" && draft.mode === "visit") {
        return findEarlier(draft).then(function () {
          return store(draft);
        });
      }
    } else if (answer.status === 401 || answer.status === 403) {
      draft.state = "waiting";
      draft.needsLogin = true;
      draft.message = msg("login", "请登录后同步");
    } else if (ok(answer)) {
      draft.state = "waiting";
      draft.message = msg("captive", "网络异常（可能需要登录 Wi-Fi），稍后自动重试。");
    } else {
      draft.state = "waiting";
      draft.message = msg("server", "服务器暂时不能保存，稍后自动重试。");
    }
    return store(draft);
  }

  /* After a 409 on a visit: is a visit with this UUID, recorded by this user, on the server
   * (an earlier version of the draft, sent before it was changed)? Then it is marked so, with a
   * link, and not offered to be saved as a new record. */
  function findEarlier(draft) {
    var u = urls();
    var url = u.visits + "?mine=true&client_uuid=" + encodeURIComponent(draft.uuid);
    return call("GET", url, draft, null, false)
      .then(function (answer) {
        var found = ok(answer) && Array.isArray(answer.body)
          ? answer.body.filter(function (v) {
              return same(v.client_uuid, draft.uuid) && typeof v.id === "number";
            })[0]
          : null;
        if (found) {
          draft.earlier = { id: found.id, url: u.visitPage + found.id + "/" };
          draft.message = msg("earlier", "已上传（较早的版本）");
        }
      })
      .catch(function () {
        /* offline again: the plain conflict stands */
      });
  }

  function photoUrl(draft, photo, u) {
    if (draft.mode === "visit" && photo.target === draft.uuid) {
      return u.visits + "/" + draft.serverId + "/photos";
    }
    var number = draft.needNumbers[photo.target];
    return number ? u.needs + "/" + encodeURIComponent(number) + "/attachments" : null;
  }

  function isEditing(draft) {
    return !!draft.editing && Date.now() - Date.parse(draft.editing) < EDITING_MS;
  }

  function syncOne(uuid, force) {
    var u = urls();
    var draft;
    return outbox.get(uuid).then(function (found) {
      draft = found;
      if (!draft || draft.username !== outbox.user() || isEditing(draft)) {
        return draft || null;
      }
      var stale = draft.state === "syncing" && Date.now() - Date.parse(draft.updated || 0) > STALE_SYNC_MS;
      if (draft.state === "conflict" || (draft.state === "error" && !force)) {
        return draft;
      }
      if (draft.state === "syncing" && !stale && !navigator.locks) {
        return draft;
      }
      draft.state = "syncing";
      draft.message = "";
      draft.needsLogin = false;
      draft.editing = null;
      draft.tries = (draft.tries || 0) + 1;
      return outbox
        .put(draft)
        .then(function () {
          outbox.changed();
          if (draft.serverId !== null && draft.serverId !== undefined) {
            return null;
          }
          return call("POST", draft.mode === "visit" ? u.visits : u.needs, draft, draft.body, false);
        })
        .then(function (answer) {
          if (!answer) {
            return uploadPhotos(draft, u);
          }
          if (!ok(answer) || !recordMatches(draft, answer.body)) {
            return settle(draft, answer);
          }
          if (draft.mode === "visit") {
            draft.serverId = answer.body.id;
            draft.serverUrl = u.visitPage + answer.body.id + "/";
            (answer.body.needs || []).forEach(function (n) {
              draft.needNumbers[n.client_uuid] = n.number;
            });
          } else {
            draft.serverId = answer.body.number;
            draft.serverUrl = u.needPage + encodeURIComponent(answer.body.number) + "/";
            draft.needNumbers[draft.uuid] = answer.body.number;
          }
          draft.errors = {};
          return outbox.put(draft).then(function () {
            return uploadPhotos(draft, u);
          });
        })
        .catch(function () {
          // No network (or the connection dropped): keep it, try again later.
          draft.state = "waiting";
          draft.message = msg("offline", "没有网络，联网后自动同步。");
          return store(draft);
        });
    });
  }

  function uploadPhotos(draft, u) {
    var pending = draft.photos.filter(function (p) {
      return !p.done;
    });
    var next = function (i) {
      if (i >= pending.length) {
        return finish(draft);
      }
      var photo = pending[i];
      var url = photoUrl(draft, photo, u);
      if (!url) {
        photo.error = msg("photo-orphan", "照片对应的诉求不存在。");
        return settle(draft, { status: 422, json: true, body: { message: photo.error } });
      }
      return call("POST", url, draft, photoForm(photo), true).then(function (answer) {
        if (ok(answer) && same(answer.body.client_uuid, photo.uuid)) {
          photo.done = true;
          photo.error = "";
          photo.serverId = answer.body.id;
          return outbox.put(draft).then(function () {
            return next(i + 1);
          });
        }
        if (answer.json && (answer.status === 422 || answer.status === 409) && answer.body.code !== "draft_user_mismatch") {
          var errors = answer.body.errors || {};
          var first = Object.keys(errors).map(function (k) {
            return errors[k].join(" ");
          });
          photo.error = first.join(" ") || answer.body.message || msg("error");
        }
        return settle(draft, answer);
      });
    };
    return next(0);
  }

  function finish(draft) {
    draft.state = "done";
    return outbox
      .addReceipt(draft)
      .then(function () {
        return outbox.remove(draft.uuid);
      })
      .then(function () {
        return draft;
      });
  }

  /* Sync one draft unless this page or another tab already is: returns the draft as left. */
  function sync(uuid, options) {
    var force = !!(options && options.force);
    if (inflight[uuid]) {
      return inflight[uuid];
    }
    var work = function () {
      return syncOne(uuid, force);
    };
    var promise;
    if (navigator.locks && navigator.locks.request) {
      promise = navigator.locks.request("wx-draft-" + uuid, { ifAvailable: true }, function (lock) {
        return lock ? work() : outbox.get(uuid);
      });
    } else {
      promise = work();
    }
    inflight[uuid] = Promise.resolve(promise).then(
      function (result) {
        delete inflight[uuid];
        return result;
      },
      function (error) {
        delete inflight[uuid];
        throw error;
      }
    );
    return inflight[uuid];
  }

  function syncAll(options) {
    if (!outbox.user()) {
      return Promise.resolve([]);
    }
    return outbox.list().then(function (rows) {
      // One after another: a phone on a weak signal does better with one upload at a time.
      var results = [];
      var next = function (i) {
        if (i >= rows.length) {
          return results;
        }
        return sync(rows[i].uuid, options).then(function (d) {
          results.push(d);
          return next(i + 1);
        });
      };
      return next(0);
    });
  }

  /* 另存为新记录: the same content under new UUIDs (visit, needs, photos). Not for a draft
   * whose earlier version is on the server: that would make the visit twice. */
  function saveAsNew(uuid) {
    return outbox.get(uuid).then(function (draft) {
      if (!draft || draft.earlier) {
        return null;
      }
      var old = draft.uuid;
      var map = {};
      map[old] = outbox.uuid4();
      (draft.data.needs || []).forEach(function (n) {
        map[n.uuid] = draft.mode === "need" ? map[old] : outbox.uuid4();
        n.uuid = map[n.uuid];
      });
      draft.uuid = map[old];
      draft.photos.forEach(function (p) {
        p.uuid = outbox.uuid4();
        p.target = map[p.target] || draft.uuid;
        p.done = false;
        p.error = "";
      });
      draft.serverId = null;
      draft.serverUrl = "";
      draft.needNumbers = {};
      draft.created = new Date().toISOString();
      return outbox
        .save(draft)
        .then(function () {
          return outbox.remove(old);
        })
        .then(function () {
          return draft;
        });
    });
  }

  /* Drop photos the server refused, so the rest of the draft can go through. */
  function dropFailedPhotos(uuid) {
    return outbox.get(uuid).then(function (draft) {
      if (!draft) {
        return null;
      }
      draft.photos = draft.photos.filter(function (p) {
        return p.done || !p.error;
      });
      draft.state = "waiting";
      draft.message = "";
      return store(draft);
    });
  }

  outbox.sync = sync;
  outbox.syncAll = syncAll;
  outbox.saveAsNew = saveAsNew;
  outbox.dropFailedPhotos = dropFailedPhotos;
  outbox.isEditing = isEditing;
})();
