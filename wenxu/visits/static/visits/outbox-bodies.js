/* 待同步 (outbox), part 2 of 3: the API bodies (ADR 0009). A draft's JSON body is built once
 * when it is saved and stored with it, so a retry sends the same bytes and the server answers
 * 200 with the record it already made. Needs outbox-db.js first.
 */
(function () {
  "use strict";
  var outbox = window.WenxuOutbox;


  function uuid4() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  /* "2026-05-01T09:30" (the phone's local time) → "2026-05-01T09:30:00+08:00". */
  function isoLocal(value) {
    if (!value) {
      return null;
    }
    var d = new Date(value);
    if (isNaN(d.getTime())) {
      return null;
    }
    var offset = -d.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return (
      d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
      "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":00" +
      sign + pad(Math.floor(offset / 60)) + ":" + pad(offset % 60)
    );
  }

  function int(value) {
    if (value === "" || value === null || value === undefined) {
      return null;
    }
    var n = parseInt(value, 10);
    return isNaN(n) ? null : n;
  }

  function needBody(n, standalone, where) {
    var body = {
      client_uuid: n.uuid,
      title: (n.title || "").trim(),
      description: (n.description || "").trim(),
      kind: n.kind || null,
      source: n.observed ? "observed" : standalone ? n.source || "visit" : "visit",
      urgency: n.urgency || "normal",
      nature_tags: n.nature_tags || [],
      handling: n.spot ? "on_the_spot" : "routine"
    };
    var category = int(n.category);
    if (category !== null) {
      body.category = category;
    }
    if ((n.requester_name || "").trim() || (n.requester_phone || "").trim()) {
      body.requester = {
        name: (n.requester_name || "").trim(),
        phone: (n.requester_phone || "").trim(),
        confidential: !!n.requester_confidential
      };
    }
    if (n.spot) {
      body.reply_text = (n.reply_text || "").trim();
      body.confirmed = !!n.confirmed;
      if (n.confirmed && n.satisfaction) {
        body.satisfaction = n.satisfaction;
      }
    }
    if (standalone) {
      body.area = int(where.area);
      body.address = (where.address || "").trim();
      if (where.latitude && where.longitude) {
        body.latitude = where.latitude;
        body.longitude = where.longitude;
      }
    }
    return body;
  }

  /* The API body for a draft's form data: POST /visits, or POST /needs for a lone need. */
  function buildBody(draft) {
    var v = draft.data;
    if (draft.mode === "need") {
      return needBody(v.needs[0], true, v);
    }
    var body = {
      client_uuid: draft.uuid,
      kind: v.kind || null,
      area: int(v.area),
      address: (v.address || "").trim(),
      started_at: isoLocal(v.started_at),
      officers: (v.officers || []).map(int).filter(function (x) {
        return x !== null;
      }),
      companions: (v.companions || "").trim(),
      people_met: int(v.people_met) || 0,
      summary: (v.summary || "").trim(),
      mood: int(v.mood),
      mood_note: (v.mood_note || "").trim(),
      needs: (v.needs || []).map(function (n) {
        return needBody(n, false, v);
      })
    };
    var place = int(v.place);
    if (place !== null) {
      body.place = place;
    } else if (v.place_kind) {
      body.place_kind = v.place_kind;
    }
    if (v.ended_at) {
      body.ended_at = isoLocal(v.ended_at);
    }
    if (v.latitude && v.longitude) {
      body.latitude = v.latitude;
      body.longitude = v.longitude;
    }
    ["sense_gain", "sense_happiness", "sense_security"].forEach(function (name) {
      var value = int(v[name]);
      if (value !== null) {
        body[name] = value;
      }
    });
    return body;
  }

  /* Save a draft made by the capture page (state waiting), then let the caller sync it. */
  function save(draft) {
    var now = new Date().toISOString();
    draft.username = draft.username || outbox.user();
    draft.created = draft.created || now;
    draft.state = "waiting";
    draft.message = "";
    draft.errors = {};
    draft.editing = null;
    draft.serverId = draft.serverId || null;
    draft.needNumbers = draft.needNumbers || {};
    draft.photos = draft.photos || [];
    draft.body = buildBody(draft);
    return outbox.put(draft).then(function (saved) {
      outbox.changed();
      outbox.persist();
      return saved;
    });
  }

  outbox.uuid4 = uuid4;
  outbox.isoLocal = isoLocal;
  outbox.buildBody = buildBody;
  outbox.save = save;
})();
