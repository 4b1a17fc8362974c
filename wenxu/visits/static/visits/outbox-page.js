/* 待同步 page: the drafts on this device for the signed-in user (and only theirs), with 立即同步,
 * 删除, 修改 for a draft the server refused (422: nothing was written, so changing it is safe),
 * and for a conflict 另存为新记录 / 放弃, unless an earlier version of the visit is on the
 * server (then a link to it, and no second record). The list redraws whenever the outbox changes
 * (in this tab or another), so a sync started by pwa.js shows as it happens. */
(function () {
  "use strict";
  var outbox = window.WenxuOutbox;
  var box = document.getElementById("wx-outbox");
  var dataNode = document.getElementById("wx-outbox-data");
  if (!outbox || !box || !dataNode) {
    return;
  }
  var data = JSON.parse(dataNode.textContent);
  document.querySelectorAll("[data-wx-nojs]").forEach(function (el) {
    el.hidden = true;
  });

  function msg(key) {
    return box.getAttribute("data-msg-" + key) || "";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function button(text, style, action) {
    var b = el("button", "btn " + style, text);
    b.type = "button";
    b.addEventListener("click", action);
    return b;
  }

  var BADGE = { waiting: "text-bg-secondary", syncing: "text-bg-info", error: "text-bg-danger", conflict: "text-bg-warning" };

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? "" : d.toLocaleString();
  }

  function errorLines(draft) {
    var lines = [];
    Object.keys(draft.errors || {}).forEach(function (key) {
      var m = /^needs\.(\d+)\.(.+)$/.exec(key);
      var prefix = m ? msg("need") + " " + (+m[1] + 1) + "：" : "";
      lines.push(prefix + [].concat(draft.errors[key]).join(" "));
    });
    (draft.photos || []).forEach(function (p) {
      if (p.error) {
        lines.push(p.name + "：" + p.error);
      }
    });
    return lines;
  }

  function card(draft) {
    var item = el("article", "card shadow-sm mb-3 wx-draft");
    item.setAttribute("data-testid", "draft");
    item.setAttribute("data-state", draft.state);
    item.setAttribute("data-uuid", draft.uuid);
    var body = el("div", "card-body");
    var head = el("div", "d-flex flex-wrap align-items-center gap-2 mb-1");
    var state = draft.earlier ? msg("earlier") : msg(draft.state);
    head.appendChild(el("span", "badge " + (BADGE[draft.state] || "text-bg-secondary"), state));
    head.appendChild(el("span", "badge text-bg-light border", draft.mode === "visit" ? msg("visit") : msg("need")));
    head.appendChild(el("strong", "text-break", draft.label || draft.uuid));
    body.appendChild(head);

    var facts = [];
    if (draft.mode === "visit") {
      facts.push(msg("needs").replace("{n}", String((draft.data.needs || []).length)));
    }
    var photos = draft.photos || [];
    if (photos.length) {
      var done = photos.filter(function (p) {
        return p.done;
      }).length;
      facts.push(msg("photos").replace("{done}", String(done)).replace("{n}", String(photos.length)));
    }
    facts.push(msg("saved").replace("{t}", when(draft.created)));
    if (draft.serverId) {
      facts.push(msg("uploaded"));
    }
    body.appendChild(el("div", "small text-body-secondary", facts.join(" · ")));

    if (draft.earlier) {
      body.appendChild(el("div", "small mt-2", msg("earlier-help")));
    } else if (draft.state === "conflict") {
      body.appendChild(el("div", "small mt-2", msg("conflict-help")));
    }
    if (outbox.isEditing(draft)) {
      body.appendChild(el("div", "small mt-2 text-body-secondary", msg("editing")));
    }
    var lines = errorLines(draft);
    // (not repeated: the badge of an earlier version, or the one field error it names)
    if (draft.message && !draft.earlier && lines.indexOf(draft.message) < 0) {
      body.appendChild(el("div", "small mt-2 " + (draft.state === "waiting" ? "text-body-secondary" : "text-danger"), draft.message));
    }
    if (lines.length) {
      var list = el("ul", "small text-danger mb-0 mt-1");
      lines.forEach(function (line) {
        list.appendChild(el("li", "", line));
      });
      body.appendChild(list);
    }

    var actions = el("div", "d-flex flex-wrap gap-2 mt-2");
    var page = draft.mode === "visit" ? data.urls.capture : data.urls.need_capture;
    if (draft.earlier) {
      var earlier = el("a", "btn btn-outline-secondary", msg("open"));
      earlier.href = draft.earlier.url;
      earlier.setAttribute("data-testid", "draft-earlier");
      actions.appendChild(earlier);
      actions.appendChild(
        button(msg("discard"), "btn-outline-danger", function () {
          if (window.confirm(msg("confirm-discard-earlier"))) {
            outbox.remove(draft.uuid);
          }
        })
      );
    } else if (draft.state === "conflict") {
      actions.appendChild(
        button(msg("save-new"), "btn-primary", function () {
          outbox.saveAsNew(draft.uuid).then(function (copy) {
            return copy && outbox.sync(copy.uuid);
          });
        })
      );
      actions.appendChild(
        button(msg("discard"), "btn-outline-danger", function () {
          if (window.confirm(msg("confirm-discard"))) {
            outbox.remove(draft.uuid);
          }
        })
      );
    } else {
      actions.appendChild(
        button(msg("sync"), "btn-primary", function () {
          outbox.sync(draft.uuid, { force: true });
        })
      );
      if (draft.serverId) {
        if (draft.serverUrl) {
          var open = el("a", "btn btn-outline-secondary", msg("open"));
          open.href = draft.serverUrl;
          actions.appendChild(open);
        }
        if (photos.some(function (p) { return p.error && !p.done; })) {
          actions.appendChild(
            button(msg("drop-photos"), "btn-outline-secondary", function () {
              outbox.dropFailedPhotos(draft.uuid).then(function () {
                return outbox.sync(draft.uuid);
              });
            })
          );
        }
      } else if (draft.state === "error") {
        var edit = el("a", "btn btn-outline-secondary", msg("edit"));
        edit.href = page + "?draft=" + encodeURIComponent(draft.uuid);
        edit.setAttribute("data-testid", "draft-edit");
        actions.appendChild(edit);
      }
      actions.appendChild(
        button(msg("delete"), "btn-outline-danger", function () {
          if (window.confirm(msg(draft.serverId ? "confirm-delete-uploaded" : "confirm-delete"))) {
            outbox.remove(draft.uuid);
          }
        })
      );
    }
    body.appendChild(actions);
    item.appendChild(body);
    return item;
  }

  function renderReceipts() {
    var section = document.querySelector("[data-wx-receipts]");
    var list = document.querySelector("[data-wx-receipts-list]");
    return outbox.receipts(data.user).then(function (rows) {
      list.textContent = "";
      rows.slice(0, 10).forEach(function (r) {
        var li = el("li", "list-group-item d-flex justify-content-between align-items-center gap-2");
        var link = el(r.url ? "a" : "span", "text-break", r.label || r.uuid);
        if (r.url) {
          link.href = r.url;
        }
        li.appendChild(link);
        li.appendChild(el("small", "text-body-secondary text-nowrap", when(r.syncedAt)));
        li.setAttribute("data-testid", "receipt");
        list.appendChild(li);
      });
      section.hidden = rows.length === 0;
    });
  }

  var drawing = null;
  var again = false;
  function render() {
    if (drawing) {
      again = true; // a change while drawing: draw once more afterwards
      return drawing;
    }
    drawing = outbox
      .list(data.user)
      .then(function (rows) {
        box.textContent = "";
        if (!rows.length) {
          var empty = el("p", "text-body-secondary", msg("empty"));
          empty.setAttribute("data-testid", "outbox-empty");
          box.appendChild(empty);
        }
        if (rows.length && !navigator.onLine) {
          box.appendChild(el("div", "alert alert-info py-2 small", msg("offline")));
        }
        rows.forEach(function (draft) {
          box.appendChild(card(draft));
        });
        return renderReceipts();
      })
      .then(
        function () {
          drawing = null;
        },
        function () {
          drawing = null;
        }
      )
      .then(function () {
        if (again) {
          again = false;
          render();
        }
      });
    return drawing;
  }

  document.querySelector("[data-wx-sync-all]").addEventListener("click", function () {
    outbox.syncAll({ force: true }).then(render, render);
  });
  window.addEventListener("wx-outbox", render);
  window.addEventListener("online", render);
  window.addEventListener("offline", render);
  render();
})();
