/* 记录走访 / 登记诉求, offline first (ADR 0009). Plain JavaScript, no build step.
 *
 * Everything the form needs comes with the page (#wx-capture-data): areas, places, categories
 * and colleagues, each with search keys (name, pinyin initials, full pinyin). Saving writes a
 * draft to IndexedDB (WenxuOutbox.save) and then tries to sync it at once, so online and
 * offline take the same path. Errors the server sends back (`needs.1.reply_text`) are shown
 * next to their field; the draft stays on the device until it is fixed.
 * `?draft=<uuid>` reopens a draft the server refused (state error) to be fixed; while it is
 * open here it is marked `editing`, so no sync sends it half-changed. `?area=<id>&place=<id>`
 * (再次走访) preselects the area and the place when they are among the user's.
 * Photos are made smaller before they are stored (photos.js).
 */
(function () {
  "use strict";
  var outbox = window.WenxuOutbox;
  var form = document.getElementById("wx-capture");
  var dataNode = document.getElementById("wx-capture-data");
  if (!outbox || !form || !dataNode) {
    return;
  }
  var data = JSON.parse(dataNode.textContent);
  var mode = form.getAttribute("data-mode");
  var needsBox = form.querySelector("[data-wx-needs]");
  var template = document.getElementById("wx-need-template");
  var result = document.getElementById("wx-result");
  var errorsBox = document.getElementById("wx-errors");
  var LIST_LIMIT = 300;
  var counter = 0;
  var draftUuid = outbox.uuid4();
  var draftCreated = null;
  var photos = new Map(); // photo block element → [{uuid, blob, name, type, size, url}]
  var photoWork = Promise.resolve(); // photos being made smaller; saving waits for them
  var editing = false; // this page holds a reopened draft (marked `editing` in the outbox)
  var prepare = window.WenxuPhotos ? window.WenxuPhotos.prepare : function (file) {
    return Promise.resolve({ blob: file, name: file.name || "photo.jpg", type: file.type, size: file.size });
  };

  var areaById = {};
  data.areas.forEach(function (a) {
    areaById[a.id] = a;
  });

  function msg(key) {
    return form.getAttribute("data-msg-" + key) || "";
  }

  document.querySelectorAll("[data-wx-nojs]").forEach(function (el) {
    el.hidden = true;
  });
  form.hidden = false;

  // ---------------------------------------------------------------- online badge

  var net = form.parentNode.querySelector("[data-wx-net]");
  function showNet() {
    if (!net) {
      return;
    }
    net.textContent = navigator.onLine ? net.getAttribute("data-msg-online") : net.getAttribute("data-msg-offline");
    net.className = "wx-net badge rounded-pill " + (navigator.onLine ? "text-bg-success" : "text-bg-warning");
  }
  window.addEventListener("online", showNet);
  window.addEventListener("offline", showNet);
  showNet();

  // ---------------------------------------------------------------- filtered selects

  function fold(text) {
    return String(text || "").toLowerCase().replace(/\s+/g, "");
  }

  function matches(item, query) {
    if (!query) {
      return true;
    }
    return fold(item.label || item.name).indexOf(query) >= 0 || (item.keys || "").replace(/\s+/g, " ").split(" ").some(function (k) {
      return k.indexOf(query) >= 0;
    });
  }

  /* Fill a <select> with the items matching the filter box; the selected one always stays. */
  function fillSelect(select, items, query, placeholder, chosen) {
    var keep = chosen === undefined ? select.value : String(chosen);
    var q = fold(query);
    var shown = [];
    var found = 0;
    items.forEach(function (item) {
      var hit = matches(item, q);
      if (hit) {
        found += 1;
      }
      if ((hit && shown.length < LIST_LIMIT) || String(item.id) === keep) {
        shown.push(item);
      }
    });
    select.textContent = "";
    var empty = document.createElement("option");
    empty.value = "";
    empty.textContent = q && !found ? msg("no-match") : placeholder;
    select.appendChild(empty);
    shown.forEach(function (item) {
      var option = document.createElement("option");
      option.value = String(item.id);
      option.textContent = item.label || item.name;
      select.appendChild(option);
    });
    select.value = keep;
    if (q && found && !select.value) {
      // Searching chooses the best match, as the person expects on a phone.
      var first = shown.find(function (item) {
        return matches(item, q);
      });
      if (first) {
        select.value = String(first.id);
      }
    }
  }

  var areaSelect = document.getElementById("wx-area");
  var areaQuery = document.getElementById("wx-area-q");
  var placeSelect = document.getElementById("wx-place");
  var placeQuery = document.getElementById("wx-place-q");

  function currentArea() {
    return areaById[areaSelect.value] || null;
  }

  function placesOfArea() {
    var area = currentArea();
    if (!area) {
      return [];
    }
    return data.places.filter(function (p) {
      var pa = areaById[p.area];
      return pa && pa.path.indexOf(area.path) === 0;
    });
  }

  function refreshPlaces() {
    if (!placeSelect) {
      return;
    }
    var items = placesOfArea();
    var box = form.querySelector("[data-wx-place-box]");
    box.hidden = !items.length && !data.places_truncated;
    placeSelect.disabled = !items.length;
    if (!items.some(function (p) { return String(p.id) === placeSelect.value; })) {
      placeSelect.value = "";
    }
    fillSelect(placeSelect, items, placeQuery.value, msg("no-place"));
    onPlace();
  }

  function onPlace() {
    var kindBox = form.querySelector("[data-wx-place-kind]");
    var place = data.places.find(function (p) {
      return String(p.id) === placeSelect.value;
    });
    if (kindBox) {
      kindBox.hidden = !!place;
    }
    var address = document.getElementById("wx-address");
    address.placeholder = place && place.address ? place.address : address.getAttribute("data-placeholder") || address.placeholder;
  }

  function refreshOfficers() {
    var box = form.querySelector("[data-wx-officers]");
    if (!box) {
      return;
    }
    var area = currentArea();
    var chosen = {};
    box.querySelectorAll("input:checked").forEach(function (input) {
      chosen[input.value] = true;
    });
    box.textContent = "";
    var people = !area
      ? []
      : data.colleagues.filter(function (c) {
          return c.paths.some(function (p) {
            return area.path.indexOf(p) === 0 || p.indexOf(area.path) === 0;
          });
        });
    if (!people.length) {
      var none = document.createElement("span");
      none.className = "small text-body-secondary";
      none.textContent = area ? msg("no-colleagues") : "";
      box.appendChild(none);
      return;
    }
    people.forEach(function (person) {
      var id = "wx-officer-" + person.id;
      var input = document.createElement("input");
      input.type = "checkbox";
      input.className = "btn-check";
      input.id = id;
      input.value = String(person.id);
      input.setAttribute("data-f", "officers");
      input.checked = !!chosen[input.value];
      var label = document.createElement("label");
      label.className = "btn btn-outline-secondary";
      label.htmlFor = id;
      label.textContent = person.name;
      box.appendChild(input);
      box.appendChild(label);
    });
  }

  function refreshSpot() {
    var area = currentArea();
    var allowed = !area || area.spot;
    needsBox.querySelectorAll("[data-wx-need]").forEach(function (card) {
      var spot = card.querySelector('[data-f="spot"]');
      var hint = card.querySelector("[data-wx-spot-hint]");
      spot.disabled = !allowed;
      if (!allowed && spot.checked) {
        spot.checked = false;
        toggles(card);
      }
      hint.hidden = allowed;
      hint.textContent = allowed ? "" : msg("spot-not-allowed");
    });
  }

  function onArea() {
    refreshPlaces();
    refreshOfficers();
    refreshSpot();
  }

  areaQuery.addEventListener("input", function () {
    fillSelect(areaSelect, data.areas, areaQuery.value, msg("pick-area"));
    onArea();
  });
  areaSelect.addEventListener("change", onArea);
  if (placeSelect) {
    placeQuery.addEventListener("input", refreshPlaces);
    placeSelect.addEventListener("change", onPlace);
    var address = document.getElementById("wx-address");
    address.setAttribute("data-placeholder", address.placeholder);
  }
  fillSelect(areaSelect, data.areas, "", msg("pick-area"));
  if (data.areas.length === 1) {
    areaSelect.value = String(data.areas[0].id);
  }

  // Enter in a filter box must not save the form.
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches("[data-wx-filter]")) {
      event.preventDefault();
    }
  });

  // ---------------------------------------------------------------- time

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function localInput(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  var started = document.getElementById("wx-started");
  var ended = document.getElementById("wx-ended");
  if (started) {
    // The end is left blank: a visit left open ends when it is saved (see save()).
    started.value = localInput(new Date());
  }

  // ---------------------------------------------------------------- location

  var locate = form.querySelector("[data-wx-locate]");
  var locateStatus = form.querySelector("[data-wx-locate-status]");
  var lat = document.getElementById("wx-lat");
  var lng = document.getElementById("wx-lng");
  function say(key, accuracy) {
    locateStatus.textContent = (locate.getAttribute("data-msg-" + key) || "").replace("{m}", String(accuracy));
    locateStatus.className = "small mt-1 " + (key === "ok" ? "text-success" : key === "busy" ? "text-body-secondary" : "text-danger");
  }
  locate.addEventListener("click", function () {
    if (!window.isSecureContext || !navigator.geolocation) {
      say("unsupported");
      return;
    }
    locate.disabled = true;
    say("busy");
    navigator.geolocation.getCurrentPosition(
      function (position) {
        lat.value = position.coords.latitude.toFixed(6);
        lng.value = position.coords.longitude.toFixed(6);
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
  form.querySelector("[data-wx-unlocate]").addEventListener("click", function () {
    lat.value = "";
    lng.value = "";
    locateStatus.textContent = "";
  });

  // ---------------------------------------------------------------- photos

  function renderThumbs(block) {
    var box = block.querySelector("[data-wx-thumbs]");
    box.textContent = "";
    (photos.get(block) || []).forEach(function (photo, index) {
      var figure = document.createElement("figure");
      figure.className = "wx-thumb m-0 position-relative";
      var img = document.createElement("img");
      if (!photo.url) {
        photo.url = URL.createObjectURL(photo.blob);
      }
      img.src = photo.url;
      img.alt = photo.name;
      img.className = "rounded border";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-sm btn-light border wx-thumb-remove";
      remove.setAttribute("aria-label", msg("photo-remove") + " " + photo.name);
      remove.textContent = "×";
      remove.addEventListener("click", function () {
        var list = photos.get(block);
        URL.revokeObjectURL(list[index].url);
        list.splice(index, 1);
        renderThumbs(block);
      });
      figure.appendChild(img);
      figure.appendChild(remove);
      box.appendChild(figure);
    });
  }

  function setupPhotos(block) {
    photos.set(block, []);
    var input = block.querySelector("[data-wx-photos]");
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files || []);
      input.value = "";
      var job = Promise.all(files.map(prepare)).then(function (prepared) {
        var list = photos.get(block);
        prepared.forEach(function (p) {
          list.push({ uuid: outbox.uuid4(), blob: p.blob, name: p.name, type: p.type, size: p.size });
        });
        renderThumbs(block);
      });
      photoWork = photoWork.then(function () {
        return job;
      });
    });
  }

  form.querySelectorAll("[data-photo-target]").forEach(function (block) {
    if (!block.closest("[data-wx-need]") && !block.closest("template")) {
      setupPhotos(block);
    }
  });

  // ---------------------------------------------------------------- needs

  function toggles(card) {
    var spot = card.querySelector('[data-f="spot"]');
    var confirmed = card.querySelector('[data-f="confirmed"]');
    card.querySelector("[data-wx-spot-box]").hidden = !spot.checked;
    card.querySelector("[data-wx-satisfaction-box]").hidden = !confirmed.checked;
    var observed = card.querySelector('[data-f="observed"]');
    var sourceBox = card.querySelector("[data-wx-source-box]");
    if (sourceBox) {
      sourceBox.hidden = observed.checked;
    }
  }

  function renumber() {
    var cards = needsBox.querySelectorAll("[data-wx-need]");
    cards.forEach(function (card, index) {
      var no = card.querySelector("[data-wx-need-no]");
      if (no) {
        no.textContent = String(index + 1);
      }
    });
    var count = form.querySelector("[data-wx-need-count]");
    if (count) {
      count.textContent = String(cards.length);
    }
    var none = form.querySelector("[data-wx-no-needs]");
    if (none) {
      none.hidden = cards.length > 0;
    }
  }

  function addNeed(uuid) {
    counter += 1;
    var html = template.innerHTML.replace(/__N__/g, String(counter));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var card = holder.firstElementChild;
    card.setAttribute("data-uuid", uuid || outbox.uuid4());
    needsBox.appendChild(card);
    var category = card.querySelector('[data-f="category"]');
    var categoryQuery = card.querySelector('[data-wx-filter="category"]');
    fillSelect(category, data.categories, "", "—");
    categoryQuery.addEventListener("input", function () {
      fillSelect(category, data.categories, categoryQuery.value, "—");
    });
    card.addEventListener("change", function () {
      toggles(card);
    });
    var remove = card.querySelector("[data-wx-remove-need]");
    if (remove) {
      remove.addEventListener("click", function () {
        var filled = Array.prototype.some.call(card.querySelectorAll("input[type=text], textarea"), function (el) {
          return el.value.trim();
        });
        if (filled && !window.confirm(msg("confirm-remove-need"))) {
          return;
        }
        card.remove();
        renumber();
      });
    }
    setupPhotos(card.querySelector("[data-photo-target]"));
    toggles(card);
    renumber();
    refreshSpot();
    return card;
  }

  var addButton = form.querySelector("[data-wx-add-need]");
  if (addButton) {
    addButton.addEventListener("click", function () {
      var card = addNeed();
      card.querySelector('[data-f="title"]').focus();
    });
  }

  // ---------------------------------------------------------------- read and fill fields

  var MULTI = { nature_tags: true, officers: true };

  function readFields(scope, skipNeeds) {
    var values = {};
    scope.querySelectorAll("[data-f]").forEach(function (el) {
      if (skipNeeds && el.closest("[data-wx-need]")) {
        return;
      }
      var name = el.getAttribute("data-f");
      if (MULTI[name]) {
        values[name] = values[name] || [];
        if (el.checked) {
          values[name].push(el.value);
        }
      } else if (el.type === "radio") {
        if (el.checked) {
          values[name] = el.value;
        } else if (!(name in values)) {
          values[name] = "";
        }
      } else if (el.type === "checkbox") {
        values[name] = el.checked;
      } else {
        values[name] = el.value;
      }
    });
    return values;
  }

  function fillFields(scope, values, skipNeeds) {
    scope.querySelectorAll("[data-f]").forEach(function (el) {
      if (skipNeeds && el.closest("[data-wx-need]")) {
        return;
      }
      var name = el.getAttribute("data-f");
      if (!(name in values)) {
        return;
      }
      var value = values[name];
      if (MULTI[name]) {
        el.checked = (value || []).indexOf(el.value) >= 0;
      } else if (el.type === "radio") {
        el.checked = String(value) === el.value;
      } else if (el.type === "checkbox") {
        el.checked = !!value;
      } else if (el.tagName === "SELECT" && value && !el.querySelector('option[value="' + value + '"]')) {
        var option = document.createElement("option");
        option.value = value;
        option.textContent = value;
        el.appendChild(option);
        el.value = value;
      } else {
        el.value = value === null || value === undefined ? "" : value;
      }
    });
  }

  function collect() {
    var values = readFields(form, true);
    values.needs = [];
    var files = [];
    (photos.get(form.querySelector('[data-photo-target="visit"]')) || []).forEach(function (p) {
      files.push({ uuid: p.uuid, target: draftUuid, blob: p.blob, name: p.name, type: p.type, size: p.size });
    });
    needsBox.querySelectorAll("[data-wx-need]").forEach(function (card) {
      var need = readFields(card, false);
      need.uuid = card.getAttribute("data-uuid");
      values.needs.push(need);
      (photos.get(card.querySelector("[data-photo-target]")) || []).forEach(function (p) {
        files.push({ uuid: p.uuid, target: need.uuid, blob: p.blob, name: p.name, type: p.type, size: p.size });
      });
    });
    return { values: values, photos: files };
  }

  // ---------------------------------------------------------------- errors

  function clearErrors() {
    form.querySelectorAll("[data-err]").forEach(function (el) {
      el.textContent = "";
    });
    form.querySelectorAll(".is-invalid").forEach(function (el) {
      el.classList.remove("is-invalid");
    });
    errorsBox.hidden = true;
  }

  function slotFor(scope, key, skipNeeds) {
    var parts = key.split(".");
    while (parts.length) {
      var found = Array.prototype.find.call(scope.querySelectorAll('[data-err="' + parts.join(".") + '"]'), function (el) {
        return !skipNeeds || !el.closest("[data-wx-need]");
      });
      if (found) {
        return found;
      }
      parts.pop();
    }
    return null;
  }

  function showErrors(errors, title) {
    clearErrors();
    var list = errorsBox.querySelector("[data-wx-errors-list]");
    list.textContent = "";
    var cards = needsBox.querySelectorAll("[data-wx-need]");
    var firstField = null;
    Object.keys(errors).forEach(function (key) {
      var text = [].concat(errors[key]).join(" ");
      var slot = null;
      var prefix = "";
      var m = /^needs\.(\d+)\.(.+)$/.exec(key);
      if (m && cards[+m[1]]) {
        slot = slotFor(cards[+m[1]], m[2], false) || cards[+m[1]].querySelector('[data-err="_need"]');
        prefix = msg("need") + " " + (+m[1] + 1) + "：";
      } else if (mode === "need") {
        slot = slotFor(form, key, false);
      } else {
        slot = slotFor(form, key, true);
      }
      if (slot) {
        slot.textContent = text;
        var wrapper = slot.closest("[data-slot], .mb-3, fieldset") || slot.parentNode;
        var field = wrapper.querySelector("input:not([type=search]):not([type=hidden]), select, textarea");
        if (field) {
          field.classList.add("is-invalid");
          firstField = firstField || field;
        }
      }
      var item = document.createElement("li");
      item.textContent = prefix + text;
      list.appendChild(item);
    });
    errorsBox.querySelector("[data-wx-errors-title]").textContent = title;
    errorsBox.hidden = false;
    errorsBox.scrollIntoView({ block: "start" });
    if (firstField && firstField.focus) {
      firstField.focus({ preventScroll: true });
    }
  }

  function validate(values) {
    var errors = {};
    var required = msg("required");
    if (!values.area) {
      errors.area = [required];
    }
    if (mode === "visit") {
      if (!values.kind) {
        errors.kind = [required];
      }
      if (!values.mood) {
        errors.mood = [msg("mood")];
      }
      if (!values.started_at) {
        errors.started_at = [required];
      } else if (values.ended_at && values.ended_at < values.started_at) {
        errors.ended_at = [msg("end-before-start")];
      }
    }
    values.needs.forEach(function (need, index) {
      var prefix = mode === "visit" ? "needs." + index + "." : "";
      if (!need.title.trim()) {
        errors[prefix + "title"] = [required];
      }
      if (!need.description.trim()) {
        errors[prefix + "description"] = [required];
      }
      if (!need.kind) {
        errors[prefix + "kind"] = [required];
      }
      if (need.spot && !need.reply_text.trim()) {
        errors[prefix + "reply_text"] = [msg("proof")];
      }
      if (need.spot && need.confirmed && !need.satisfaction) {
        errors[prefix + "satisfaction"] = [msg("satisfaction")];
      }
    });
    return errors;
  }

  // ---------------------------------------------------------------- saving

  function label(values) {
    if (mode === "need") {
      return values.needs[0].title.trim();
    }
    var kind = form.querySelector('[data-f="kind"]:checked');
    var area = currentArea();
    var kindLabel = kind ? form.querySelector('label[for="' + kind.id + '"]').textContent : "";
    return [kindLabel, area ? area.name : "", (values.started_at || "").replace("T", " ")].filter(Boolean).join(" · ");
  }

  function showResult(kind, title, text, link, errors) {
    result.className = "alert alert-" + kind;
    result.querySelector("[data-wx-result-title]").textContent = title;
    result.querySelector("[data-wx-result-text]").textContent = text || "";
    var list = result.querySelector("[data-wx-result-errors]");
    list.textContent = "";
    (errors || []).forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      list.appendChild(li);
    });
    var a = result.querySelector("[data-wx-result-link]");
    a.hidden = !link;
    if (link) {
      a.href = link;
    }
    result.hidden = false;
  }

  function finished(draft) {
    // Saved on the device and, if there was a network, on the server too.
    form.hidden = true;
    result.querySelector("[data-wx-again]").hidden = false;
    if (draft && draft.state === "done") {
      showResult("success", msg("synced"), msg("synced-text"), draft.serverUrl);
    } else if (draft && draft.state === "conflict") {
      showResult("warning", msg("conflict"), draft.message);
    } else {
      var detail = draft && draft.message ? draft.message : "";
      showResult("info", msg("saved-local"), msg("saved-local-text"), null, detail ? [detail] : []);
    }
    result.scrollIntoView({ block: "start" });
  }

  var saveButton = form.querySelector("[data-wx-save]");
  var saveLabel = saveButton.textContent;
  var saving = false;

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (saving) {
      return;
    }
    saving = true;
    saveButton.disabled = true;
    photoWork.then(save, save);
  });

  function save() {
    saving = false;
    saveButton.disabled = false;
    if (started && ended && !ended.value && started.value) {
      var now = localInput(new Date());
      if (now >= started.value) {
        ended.value = now;
      }
    }
    var collected = collect();
    var errors = validate(collected.values);
    if (Object.keys(errors).length) {
      showErrors(errors, msg("invalid"));
      return;
    }
    clearErrors();
    saving = true;
    editing = false; // saving clears the mark; a refusal sets it again (keepEditing)
    saveButton.disabled = true;
    saveButton.textContent = msg("saving");
    var draft = {
      uuid: draftUuid,
      mode: mode,
      created: draftCreated,
      label: label(collected.values),
      data: collected.values,
      photos: collected.photos
    };
    outbox
      .save(draft)
      .then(function (saved) {
        draftCreated = saved.created;
        return navigator.onLine ? outbox.sync(saved.uuid) : saved;
      })
      .then(function (after) {
        if (after && after.state === "error") {
          var photoErrors = (after.photos || []).filter(function (p) {
            return p.error;
          });
          if (after.serverId) {
            finished(after);
          } else {
            keepEditing(after.uuid);
            showErrors(Object.keys(after.errors || {}).length ? after.errors : { _need: [after.message] }, msg("server-invalid"));
          }
          if (photoErrors.length) {
            showResult("warning", after.message, "", null, photoErrors.map(function (p) { return p.name + "：" + p.error; }));
          }
        } else {
          finished(after);
        }
      })
      .catch(function (error) {
        showErrors({ _need: [String(error && error.message ? error.message : error)] }, msg("invalid"));
      })
      .then(function () {
        saving = false;
        saveButton.disabled = false;
        saveButton.textContent = saveLabel;
      });
  }

  // ---------------------------------------------------------------- reopening a draft

  /* The draft stays open in this form: no sync sends it until it is saved or the page left. */
  function keepEditing(uuid) {
    editing = true;
    outbox.setEditing(uuid, true);
  }

  window.addEventListener("pagehide", function () {
    if (editing && !saving) {
      outbox.setEditing(draftUuid, false);
    }
  });

  function loadDraft(uuid) {
    return outbox.get(uuid).then(function (draft) {
      if (!draft || draft.mode !== mode || draft.username !== outbox.user()) {
        showResult("warning", msg("draft-missing"));
        return;
      }
      draftUuid = draft.uuid;
      draftCreated = draft.created;
      var values = draft.data;
      fillFields(form, values, true);
      areaQuery.value = "";
      fillSelect(areaSelect, data.areas, "", msg("pick-area"));
      areaSelect.value = String(values.area || "");
      onArea();
      fillFields(form, values, true); // officers and places exist only once the area is set
      if (placeSelect) {
        onPlace();
      }
      needsBox.textContent = "";
      (values.needs || []).forEach(function (need) {
        var card = addNeed(need.uuid);
        fillFields(card, need, false);
        toggles(card);
      });
      refreshSpot();
      (draft.photos || []).forEach(function (p) {
        var block =
          mode === "visit" && p.target === draft.uuid
            ? form.querySelector('[data-photo-target="visit"]')
            : (needsBox.querySelector('[data-uuid="' + p.target + '"] [data-photo-target]'));
        if (block) {
          photos.get(block).push({ uuid: p.uuid, blob: p.blob, name: p.name, type: p.type, size: p.size });
        }
      });
      photos.forEach(function (_list, block) {
        renderThumbs(block);
      });
      if (draft.serverId || draft.state !== "error") {
        // Only a draft the server refused (422: nothing was written) may change: one that was
        // sent may be on the server already, and changing it would make a second record.
        form.querySelectorAll("input, select, textarea, button").forEach(function (el) {
          el.disabled = true;
        });
        showResult("info", draft.serverId ? msg("locked") : msg("not-editable"), "", draft.serverUrl);
        return;
      }
      keepEditing(draft.uuid);
      if (draft.errors && Object.keys(draft.errors).length) {
        showErrors(draft.errors, msg("server-invalid"));
      }
    });
  }

  /* 再次走访: `?area=<id>&place=<id>`, each taken only when it is among the user's. */
  function preselect(areaId, placeId) {
    if (!areaId || !areaById[areaId]) {
      return;
    }
    fillSelect(areaSelect, data.areas, "", msg("pick-area"), areaId);
    onArea();
    if (!placeSelect || !placeId) {
      return;
    }
    var known = placesOfArea().some(function (p) {
      return String(p.id) === placeId;
    });
    if (known) {
      fillSelect(placeSelect, placesOfArea(), "", msg("no-place"), placeId);
      onPlace();
    }
  }

  var params = new URLSearchParams(window.location.search);
  if (mode === "need") {
    addNeed(draftUuid);
  }
  refreshSpot();
  onArea();
  if (params.get("draft")) {
    loadDraft(params.get("draft")).then(function () {
      if (mode === "need" && needsBox.children.length === 0) {
        addNeed(draftUuid);
      }
    });
  } else {
    preselect(params.get("area"), params.get("place"));
  }
})();
