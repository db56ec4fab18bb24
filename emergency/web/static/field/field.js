// The field form: phones first, offline first. Reports are written to an outbox in
// IndexedDB with an idempotency key made on the phone, then sent (photo first, then the
// report) whenever there is a connection; the server stores each key once.
(function () {
  "use strict";
  var I18N = window.FIELD_I18N, LANGS = ["zh-Hans", "zh-Hant", "pt", "en"];
  var $ = function (s) { return document.querySelector(s); };
  var state = { token: null, ctx: null, kind: null, pos: null, photo: null, lang: "en",
                flushing: false, backoff: 0, timer: null, fixing: null, dead: false,
                failedRounds: 0, round: null };

  // --- language ---------------------------------------------------------------------------
  function pickLang() {
    var saved = localStorage.getItem("field_lang");
    if (saved && I18N[saved]) return saved;
    var nav = (navigator.language || "en").toLowerCase();
    if (nav.indexOf("zh") === 0) return /tw|hk|mo|hant/.test(nav) ? "zh-Hant" : "zh-Hans";
    if (nav.indexOf("pt") === 0) return "pt";
    return "en";
  }
  function lookup(lang, key) {
    return I18N[lang][key];
  }
  function t(key, n) {
    var v = lookup(state.lang, key);
    if (v === undefined) v = lookup("en", key);
    return String(v === undefined ? key : v).replace("{n}", n);
  }
  // A refusal in the form's language, from the server's error code (never its English text).
  function reason(item) {
    var code = item.code || "";
    if (!code && /^HTTP (\d+)/.test(item.error || "")) code = "http_" + RegExp.$1;
    return lookup(state.lang, "err." + code) !== undefined ? t("err." + code) : t("err.other", code || "?");
  }
  function applyLang() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    [].forEach.call(document.querySelectorAll("[data-t]"), function (el) {
      el.textContent = t(el.getAttribute("data-t"));
    });
    renderTeam(); renderKinds(); if (state.kind) renderForm(); renderQueue();
    if (state.dead) $("#dead").textContent = t("link_dead");
  }

  // --- token and context -------------------------------------------------------------------
  function readToken() {
    var m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (m) {
      if (localStorage.getItem("field_token") !== decodeURIComponent(m[1])) localStorage.removeItem("field_dead");
      localStorage.setItem("field_token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);  // off the screen
    }
    return localStorage.getItem("field_token");
  }
  function api(path, opts) {
    opts = opts || {};
    opts.headers = opts.headers || {};
    opts.headers.Authorization = "Bearer " + state.token;
    return fetch(path, opts);
  }
  function loadContext() {
    var cached = localStorage.getItem("field_ctx");
    if (cached) { try { state.ctx = JSON.parse(cached); } catch (e) { state.ctx = null; } }
    renderTeam(); renderKinds();
    return api("/api/v1/field/context").then(function (r) {
      if (r.status === 401) { linkDead(); throw new Error(r.status); }
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (ctx) {
      state.ctx = ctx; localStorage.setItem("field_ctx", JSON.stringify(ctx));
      renderTeam(); renderKinds(); if (state.kind) renderForm();
    }).catch(function () { /* offline: the cached context serves */ });
  }
  function renderTeam() {
    var c = state.ctx, el = $("#team");
    if (!c) { el.textContent = ""; return; }
    var name = c.label || (c.group && c.group.name) || (c.crew && c.crew.name) || c.user;
    var trip = c.group && c.group.open_trip ? " · " + t("on_patrol") : "";
    el.textContent = t("team") + ": " + name + trip;
  }

  // --- which reports a team makes ------------------------------------------------------------
  function kinds() {
    var c = state.ctx, list = [];
    if (!c || c.group || (!c.crew && !(c.residents || []).length)) list.push("check_in", "check_out");
    if (!c || c.crew) list.push("crew_status");
    if (c && (c.residents || []).length) list.push("resident_check");
    return list.concat(["hazard", "rectified", "evacuated", "help"]);
  }
  function renderKinds() {
    var nav = $("#kinds"); nav.innerHTML = "";
    if (!state.token) return;
    kinds().forEach(function (k) {
      var b = document.createElement("button");
      b.type = "button"; b.className = "kind k-" + k; b.textContent = t("k." + k);
      b.onclick = function () { openForm(k); };
      nav.appendChild(b);
    });
  }

  // --- the form ----------------------------------------------------------------------------
  var HAZARDS = ["fallen_tree", "flooding", "loose_object", "damaged_structure", "power_line",
                 "landslide", "blocked_road", "construction_site", "other"];
  var SEV = ["low", "medium", "high", "critical"];
  function options(values, label) { return values.map(function (v) { return [v, label(v)]; }); }
  function fieldsOf(kind) {
    var c = state.ctx || {}, F = [];
    if (kind === "check_in" || kind === "check_out") {
      var g = c.group || {};
      F.push({ name: "persons", type: "number", value: (g.members || []).length || "" },
             { name: "vehicles", type: "number", value: (g.vehicles || []).length || "" });
    } else if (kind === "hazard") {
      F.push({ name: "hazard_kind", type: "select", options: options(HAZARDS, function (v) { return t("hk." + v); }) },
             { name: "severity", type: "select", value: "high", options: options(SEV, function (v) { return t("sv." + v); }) },
             { name: "place", type: "text" }, { name: "photo", type: "photo" });
    } else if (kind === "rectified") {
      F.push({ name: "hazard_id", type: "select", required: true,
               options: (c.hazards || []).map(function (h) {
                 return [h.id, "#" + h.id + " " + t("hk." + h.kind) + (h.place ? " · " + h.place : "")];
               }) }, { name: "photo", type: "photo" });
    } else if (kind === "evacuated") {
      F.push({ name: "people", type: "number", required: true },
             { name: "shelter_id", label: "shelter", type: "select", options: shelterOptions() },
             { name: "to_place", type: "text" }, { name: "from_place", type: "text" });
    } else if (kind === "crew_status") {
      F.push({ name: "crew_status", type: "select", value: c.crew ? c.crew.status : "standby",
               options: options(["standby", "deployed", "resting", "released"], function (v) { return t("cs." + v); }) },
             { name: "headcount", type: "number", value: c.crew ? c.crew.headcount : "" });
    } else if (kind === "help") {
      F.push({ name: "people", type: "number", value: 1 },
             { name: "urgency", type: "select", value: "high", options: options(SEV, function (v) { return t("sv." + v); }) },
             { name: "photo", type: "photo" });
    } else if (kind === "resident_check") {
      F.push({ name: "resident_id", label: "resident", type: "select", required: true,
               options: (c.residents || []).map(function (r) { return [r.id, r.name + " · " + r.address]; }) },
             { name: "resident_state", type: "select",
               options: options(["reached", "not_reached", "needs_help"], function (v) { return t("rs." + v); }) });
    }
    F.push({ name: "note", type: "textarea" });
    return F;
  }
  function shelterOptions() {
    var list = ((state.ctx || {}).shelters || []).filter(function (s) { return s.is_open; });
    if (state.pos) {
      list = list.slice().sort(function (a, b) { return dist(a) - dist(b); });
    }
    var opts = list.map(function (s) {
      var name = s.name[state.lang] || s.name.en || s.id;  // distance and room first: long names get cut
      var km = state.pos ? (dist(s) / 1000).toFixed(1) + " km · " : "";
      return [s.id, km + s.room + " " + t("room") + " · " + name];
    });
    opts.push(["", t("other_place")]);
    return opts;
  }
  function dist(s) {  // metres, equirectangular: plenty for a few km
    var k = Math.PI / 180, x = (s.lon - state.pos.lon) * Math.cos(state.pos.lat * k), y = s.lat - state.pos.lat;
    return Math.sqrt(x * x + y * y) * k * 6371000;
  }
  function openForm(kind, fix) {
    state.kind = kind; state.photo = fix ? fix.photo || null : null; state.fixing = fix ? fix.key : null;
    $("#kinds").hidden = true; $("#form").hidden = false;
    $("#fields").innerHTML = "";  // a new form: nothing of the last one is kept
    renderForm();
    if (fix) {
      [].forEach.call(document.querySelectorAll("#fields [name]"), function (el) {
        var v = fix.body[el.name];
        if (v !== undefined && v !== null && el.type !== "file") el.value = v;
      });
      if (fix.body.lat !== undefined) state.pos = { lat: fix.body.lat, lon: fix.body.lon, acc: fix.body.accuracy_m || 0 };
      $("#form-note").textContent = t("fixing") + ": " + reason(fix);
      $("#form-note").hidden = false;
      renderLocation();
    } else { $("#form-note").hidden = true; locate(); }
  }
  function closeForm() {
    state.kind = null; state.fixing = null; $("#form").hidden = true; $("#kinds").hidden = false;
  }
  function renderForm() {
    // Also redrawn when the team's context arrives or the language changes, perhaps while
    // someone is writing: what is typed or chosen stays (a slow link's context wiped it).
    var typed = {};
    [].forEach.call(document.querySelectorAll("#fields [name]"), function (el) {
      if (el.type !== "file") typed[el.name] = el.value;
    });
    var box = $("#fields"); box.innerHTML = "";
    $("#form-title").textContent = t("k." + state.kind);
    fieldsOf(state.kind).forEach(function (f) {
      var wrap = document.createElement("label"), input;
      wrap.className = "field f-" + f.type;
      var span = document.createElement("span");
      span.textContent = t(f.label || f.name) + (f.required ? " *" : "");
      wrap.appendChild(span);
      if (f.type === "select") {
        input = document.createElement("select");
        if (!f.options.length) f.options = [["", t("none")]];
        f.options.forEach(function (o) {
          var opt = document.createElement("option"); opt.value = o[0]; opt.textContent = o[1];
          input.appendChild(opt);
        });
      } else if (f.type === "textarea") {
        input = document.createElement("textarea"); input.rows = 3; input.maxLength = 1000;
      } else if (f.type === "photo") {
        // The native file button speaks the phone's language, not the form's: hide it and
        // let the label (a big camera button) open it.
        input = document.createElement("input"); input.type = "file"; input.accept = "image/*";
        input.setAttribute("capture", "environment"); input.className = "visually-hidden";
        input.onchange = function () { takePhoto(input.files[0]); };
        span.textContent = t("photo_hint"); span.className = "photo-button";
        var prev = document.createElement("img"); prev.id = "preview"; prev.alt = "";
        prev.hidden = !state.photo;  // a photo taken (or kept from a rejected report) shows
        if (state.photo) prev.src = URL.createObjectURL(state.photo);
        wrap.appendChild(input); wrap.appendChild(prev); box.appendChild(wrap); return;
      } else {
        input = document.createElement("input"); input.type = f.type;
        if (f.type === "number") { input.min = 0; input.inputMode = "numeric"; }
        else input.maxLength = 200;
      }
      input.name = f.name; input.id = "f-" + f.name;
      if (f.value !== undefined && f.value !== "") input.value = f.value;
      var kept = typed[f.name];
      if (kept !== undefined && (f.type !== "select" ||
          [].some.call(input.options, function (o) { return o.value === kept; }))) input.value = kept;
      if (f.required) input.required = true;
      wrap.appendChild(input); box.appendChild(wrap);
    });
    renderLocation();
  }

  // --- location ----------------------------------------------------------------------------
  function locate(fresh) {
    if (!navigator.geolocation) { renderLocation(); return; }
    state.locating = true; renderLocation();
    navigator.geolocation.getCurrentPosition(function (p) {
      state.pos = { lat: +p.coords.latitude.toFixed(6), lon: +p.coords.longitude.toFixed(6),
                    acc: Math.round(p.coords.accuracy) };
      state.locating = false; renderLocation();
      if (state.kind === "evacuated") refreshShelters();
    }, function () { state.locating = false; renderLocation(); },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: fresh === true ? 0 : 60000 });
  }
  function refreshShelters() {
    var sel = $("#f-shelter_id"); if (!sel) return;
    var v = sel.value; sel.innerHTML = "";
    shelterOptions().forEach(function (o) {
      var opt = document.createElement("option"); opt.value = o[0]; opt.textContent = o[1]; sel.appendChild(opt);
    });
    sel.value = v && sel.querySelector('option[value="' + v + '"]') ? v : sel.options[0].value;
  }
  function renderLocation() {
    var el = $("#loc-text");
    if (state.locating) el.textContent = t("locating");
    else if (state.pos) el.textContent = state.pos.lat.toFixed(5) + ", " + state.pos.lon.toFixed(5) + " (±" + state.pos.acc + "\u00a0m)";
    else el.textContent = t("no_location");
  }

  // --- photo: resized on the phone to ≤ 1600 px JPEG ------------------------------------------
  function takePhoto(file) {
    if (!file) return;
    var img = new Image(), url = URL.createObjectURL(file);
    img.onload = function () {
      var s = Math.min(1, 1600 / Math.max(img.naturalWidth, img.naturalHeight));
      var c = document.createElement("canvas");
      c.width = Math.round(img.naturalWidth * s); c.height = Math.round(img.naturalHeight * s);
      c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
      URL.revokeObjectURL(url);
      c.toBlob(function (blob) {
        state.photo = blob;
        var prev = $("#preview"); prev.src = URL.createObjectURL(blob); prev.hidden = false;
      }, "image/jpeg", 0.82);
    };
    img.onerror = function () { URL.revokeObjectURL(url); state.photo = null; };
    img.src = url;
  }

  // --- the outbox (IndexedDB) ------------------------------------------------------------------
  var dbp = null;
  function db() {
    if (!dbp) dbp = new Promise(function (res, rej) {
      var r = indexedDB.open("field-outbox", 1);
      r.onupgradeneeded = function () { r.result.createObjectStore("outbox", { keyPath: "key" }); };
      r.onsuccess = function () { res(r.result); }; r.onerror = function () { rej(r.error); };
    });
    return dbp;
  }
  function store(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (res, rej) {
        var tx = d.transaction("outbox", mode), out = fn(tx.objectStore("outbox"));
        tx.oncomplete = function () { res(out && out.result); };
        tx.onerror = function () { rej(tx.error); };
      });
    });
  }
  function allItems() {
    return store("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return a.created - b.created; });
    });
  }
  function put(item) { return store("readwrite", function (s) { return s.put(item); }); }
  function del(key) { return store("readwrite", function (s) { return s.delete(key); }); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16)), h = [];
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    for (var i = 0; i < 16; i++) h.push((b[i] + 256).toString(16).slice(1));
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") + "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }
  function submit(ev) {
    ev.preventDefault();
    var form = $("#form"), body = { kind: state.kind, observed_at: new Date().toISOString() };
    if (!form.reportValidity()) return;
    [].forEach.call(form.querySelectorAll("#fields [name]"), function (el) {
      var v = el.value.trim(); if (v === "") return;
      body[el.name] = (el.type === "number" || /_id$/.test(el.name) && /^\d+$/.test(v)) ? Number(v) : v;
    });
    if (state.pos) { body.lat = state.pos.lat; body.lon = state.pos.lon; body.accuracy_m = state.pos.acc; }
    // A corrected report is a new report (a new key): the rejected one is replaced by it.
    var item = { key: uuid(), body: body, photo: state.photo, created: Date.now(), state: "waiting",
                 label: t("k." + state.kind), kind: state.kind, attempts: 0 };
    var replaced = state.fixing;
    put(item).then(function () { return replaced ? del(replaced) : null; }).then(function () {
      toast(t("saved")); closeForm(); renderQueue(); flush();
    });
  }

  // --- sending ---------------------------------------------------------------------------------
  function flush() {
    // A report saved while an earlier one is still on its way (a slow link) is sent right
    // after it, not at the next 15 s round.
    // A caller waiting on a round in progress waits for that one to end.
    if (state.flushing) { state.again = true; return state.round; }
    if (!state.token || state.dead) return Promise.resolve();
    state.flushing = true;
    state.again = false;
    state.round = allItems().then(function (items) {
      var waiting = items.filter(function (i) { return i.state === "waiting"; });
      return waiting.reduce(function (p, item) { return p.then(function () { return sendOne(item); }); },
                            Promise.resolve());
    }).then(function () { state.backoff = 0; }, function (e) {
      state.failedRounds += 1;
      if (state.dead) return;  // a 401: retrying will not help, a new link will
      state.backoff = Math.min(60000, (state.backoff || 2000) * 2);  // offline or server down
      clearTimeout(state.timer); state.timer = setTimeout(flush, state.backoff);
    }).then(function () {
      state.flushing = false; renderQueue();
      if (state.sentSome) { state.sentSome = false; loadContext(); }  // trips, hazards changed
      if (state.again && !state.backoff) flush();
    });
    return state.round;
  }
  function fail(item, r) {  // a 4xx that retrying will not fix: kept (photo too), to correct
    return r.json().catch(function () { return {}; }).then(function (j) {
      item.state = "rejected";
      item.code = (j.error && j.error.code) || ("http_" + r.status);
      item.error = (j.error && j.error.message) || ("HTTP " + r.status);
      if (item.code === "unknown_photo") delete item.body.photo_id;  // upload it again
      return put(item);
    });
  }
  function retriable(r) { return r.status >= 500 || r.status === 408 || r.status === 429; }
  function linkDead() {
    state.dead = true; localStorage.setItem("field_dead", "1");
    clearTimeout(state.timer);
    $("#dead").textContent = t("link_dead"); $("#dead").hidden = false;
    renderQueue();
  }
  function sendOne(item) {
    var step = Promise.resolve();
    if (item.photo && !item.body.photo_id) {
      step = step.then(function () {
        var fd = new FormData(); fd.append("file", item.photo, "photo.jpg");
        return api("/api/v1/photos", { method: "POST", body: fd });
      }).then(function (r) {
        if (r.ok) return r.json().then(function (j) { item.body.photo_id = j.id; return put(item); });
        if (r.status === 401) { linkDead(); throw new Error("dead"); }
        // 507: the command post's photo store is full: the report goes without its photo
        if (r.status === 507) { item.photo = null; return put(item); }
        if (retriable(r)) throw new Error("retry");
        return fail(item, r).then(function () { throw "rejected"; });
      });
    }
    return step.then(function () {
      return api("/api/v1/field-reports", {
        method: "POST", body: JSON.stringify(item.body),
        headers: { "Content-Type": "application/json", "Idempotency-Key": item.key } });
    }).then(function (r) {
      if (r.ok) return r.json().then(function (j) { remember(item, j); state.sentSome = true; return del(item.key); });
      if (r.status === 401) { linkDead(); throw new Error("dead"); }
      if (retriable(r)) throw new Error("retry");
      return fail(item, r);
    }).catch(function (e) { if (e !== "rejected") throw e; });
  }
  function remember(item, report) {
    var sent = JSON.parse(localStorage.getItem("field_sent") || "[]");
    sent.unshift({ key: item.key, label: item.label, id: report.id, at: Date.now() });
    localStorage.setItem("field_sent", JSON.stringify(sent.slice(0, 20)));
  }

  // --- status bar and list -------------------------------------------------------------------------
  function renderQueue() {
    var online = navigator.onLine;
    $("#net").textContent = online ? t("online") : t("offline");
    $("#net").className = online ? "on" : "off";
    allItems().then(function (items) {
      var waiting = items.filter(function (i) { return i.state === "waiting"; }).length;
      var rejected = items.filter(function (i) { return i.state === "rejected"; }).length;
      var q = $("#queue");
      q.textContent = rejected ? t("need_fix", rejected) + (waiting ? " · " + t("waiting", waiting) : "")
        : waiting ? t("waiting", waiting) : t("all_sent");
      q.className = rejected ? "rejected" : waiting ? "waiting" : "ok";
      var list = $("#recent"); list.innerHTML = "";
      var rows = items.map(function (i) { return { label: i.kind ? t("k." + i.kind) : i.label, at: i.created, st: i.state, item: i }; });
      JSON.parse(localStorage.getItem("field_sent") || "[]").forEach(function (s) {
        rows.push({ label: s.label + " #" + s.id, at: s.at, st: "sent" });
      });
      rows.sort(function (a, b) { return b.at - a.at; }).slice(0, 12).forEach(function (r) {
        var li = document.createElement("li"); li.className = "st-" + r.st;
        var time = new Date(r.at).toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit" });
        li.textContent = time + " · " + r.label + " · " + t("st_" + r.st) + (r.st === "rejected" ? " — " + reason(r.item) : "");
        if (r.st === "rejected") {
          var fix = document.createElement("button");
          fix.type = "button"; fix.className = "fix"; fix.textContent = t("fix");
          fix.onclick = function () { openForm(r.item.body.kind, r.item); window.scrollTo(0, 0); };
          li.appendChild(fix);
        }
        list.appendChild(li);
      });
    });
  }
  function toast(text) {
    var el = $("#toast"); el.textContent = text; el.hidden = false;
    clearTimeout(el._t); el._t = setTimeout(function () { el.hidden = true; }, 3000);
  }

  // --- start -------------------------------------------------------------------------------------
  function start() {
    state.lang = pickLang();
    var sel = $("#lang");
    sel.value = state.lang;
    sel.onchange = function () { state.lang = sel.value; localStorage.setItem("field_lang", sel.value); applyLang(); };
    state.token = readToken();
    if (state.token && localStorage.getItem("field_dead")) { state.dead = true; $("#dead").textContent = t("link_dead"); $("#dead").hidden = false; }
    $("#no-token").hidden = !!state.token;
    $("#form").onsubmit = submit;
    $("#back").onclick = closeForm;
    $("#loc-retry").onclick = function () { locate(true); };  // asked again: a fresh fix
    window.addEventListener("online", function () { state.backoff = 0; renderQueue(); flush(); loadContext(); });
    window.addEventListener("offline", renderQueue);
    setInterval(function () { renderQueue(); flush(); }, 15000);
    applyLang();
    if (state.token) { loadContext(); flush(); }
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register($("#sw").getAttribute("data-src"), { scope: "/field" }).catch(function () {});
    }
  }
  // for the browser tests and debugging: send now; how many sending rounds failed so far
  window.fieldForm = { flush: flush, items: allItems,
                       failedRounds: function () { return state.failedRounds; } };
  start();
})();
