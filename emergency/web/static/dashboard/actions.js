// What a person may do from the dashboard, by role: raise or lower a signal, compose a
// broadcast (preview, send), approve or reject someone else's, cancel. The server checks
// every role again; these forms only hide what a role cannot do.
import { h, $, $$ } from "./dom.js";
import { t, pick, inLang, fmtNum, fmtDuration, LANGS, LANG_LABEL } from "./i18n.js";
import { api, newKey } from "./api.js";
import { ask, errorText, action, show } from "./act.js";
import { state, mergeBroadcast, touch, broadcastOf } from "./store.js";

// --- signal raise / lower ----------------------------------------------------------------
export function renderSignalForm(ctx) {
  const body = $("#signal-form .body");
  const keep = body.dataset.sel ? JSON.parse(body.dataset.sel) : {};
  const srcSel = h("select", { name: "source" }, state.catalogue.map((s) => h("option", { value: s.id }, `${s.id} · ${pick(s.names)}`)));
  const kindSel = h("select", { name: "kind" });
  const levelSel = h("select", { name: "level" });
  const note = h("input", { name: "note", maxlength: 500, placeholder: t("note") });
  const drill = h("input", { type: "checkbox", name: "exercise", checked: keep.exercise || null });
  drill.onchange = () => { keep.exercise = drill.checked; body.dataset.sel = JSON.stringify({ ...JSON.parse(body.dataset.sel || "{}"), exercise: drill.checked }); refreshSignalForm(); };
  const raise = h("button", { type: "button", class: "primary", "data-testid": "raise" }, t("raise"));
  const lower = h("button", { type: "button", class: "danger", "data-testid": "lower" }, t("lower"));
  const confirmBox = h("div", { class: "confirm", hidden: true, role: "alertdialog" });
  const result = h("p", { class: "result", role: "status" });

  const fillKinds = () => {
    const src = state.catalogue.find((s) => s.id === srcSel.value);
    kindSel.replaceChildren(...src.kinds.map((k) => h("option", { value: k.id }, pick(k.names))));
    if (keep.kind && src.kinds.some((k) => k.id === keep.kind)) kindSel.value = keep.kind;
    fillLevels();
  };
  const fillLevels = () => {
    const src = state.catalogue.find((s) => s.id === srcSel.value);
    const kind = src.kinds.find((k) => k.id === kindSel.value);
    levelSel.replaceChildren(...kind.levels.map((l) => h("option", { value: l.id }, pick(l.short || l.names))));
    if (keep.level && kind.levels.some((l) => l.id === keep.level)) levelSel.value = keep.level;
    body.dataset.sel = JSON.stringify({ source: srcSel.value, kind: kindSel.value, level: levelSel.value, exercise: drill.checked });
    refreshSignalForm();
  };
  if (keep.source) srcSel.value = keep.source;
  srcSel.onchange = () => { keep.kind = keep.level = null; fillKinds(); };
  kindSel.onchange = () => { keep.level = null; fillLevels(); };
  levelSel.onchange = () => { body.dataset.sel = JSON.stringify({ source: srcSel.value, kind: kindSel.value, level: levelSel.value, exercise: drill.checked }); };
  fillKinds();

  const ask = (level) => {
    const src = state.catalogue.find((s) => s.id === srcSel.value);
    const kind = src.kinds.find((k) => k.id === kindSel.value);
    const lv = kind.levels.find((l) => l.id === (level ?? state.signals.get(`${src.id}:${kind.id}`)?.level));
    const label = `${src.id} ${pick(lv ? lv.names : kind.names)}`;
    confirmBox.replaceChildren(
      h("p", { class: drill.checked ? "says-drill" : "says-real", "data-testid": "says" }, drill.checked ? t("drill_says") : t("real_says")),
      h("p", null, level === null ? t("confirm_lower", { s: label }) : t("confirm_signal", { s: label })),
      h("button", { type: "button", class: level === null ? "danger" : "primary", "data-testid": "confirm-signal", onclick: () => send(level) }, t("confirm")),
      h("button", { type: "button", onclick: () => { confirmBox.hidden = true; } }, t("back")));
    confirmBox.hidden = false;
  };
  let key = null;  // one Idempotency-Key per change, kept while the network fails
  const send = async (level) => {
    confirmBox.hidden = true;
    key ||= newKey();
    raise.disabled = lower.disabled = true;
    result.className = "result busy";
    result.textContent = t("working");
    const r = await api("/api/v1/signals", { method: "POST", key, body: { source: srcSel.value, kind: kindSel.value, level, note: note.value.trim() || null, exercise: drill.checked } });
    raise.disabled = false;
    refreshSignalForm();
    if (r.ok || r.status < 500 && r.status > 0) key = null;
    const src = state.catalogue.find((x) => x.id === srcSel.value);
    const kind = src && src.kinds.find((k) => k.id === kindSel.value);
    const lv = kind && kind.levels.find((l) => l.id === level);
    result.className = `result ${r.ok ? "ok" : "bad"}`;
    result.textContent = r.ok ? `✓ ${drill.checked ? t("exercise") + " · " : ""}${kind ? pick(kind.names) : kindSel.value}: ${lv ? pick(lv.names) : t("ev_lower")}` : errorText(r);
    if (r.ok) { note.value = ""; }
  };
  raise.onclick = () => ask(levelSel.value);
  lower.onclick = () => ask(null);
  body.replaceChildren(
    h("label", null, t("source"), srcSel), h("label", null, t("kind"), kindSel), h("label", null, t("level"), levelSel),
    h("label", { class: "check ex" }, drill, ` ${t("exercise_signal")}`),
    // the demo's replay shares the drill levels: it leaves the ones set here alone (emergency.replay)
    ctx.boot.replay ? h("p", { class: "muted wide", "data-testid": "replay-note" }, t("replay_leaves_yours", { s: ctx.boot.replay })) : null,
    h("label", { class: "wide" }, t("note"), note), h("div", { class: "buttons" }, raise, lower), confirmBox, result);
  refreshSignalForm();
}

export function refreshSignalForm() {
  const lower = $("#signal-form [data-testid=lower]");
  const sel = $("#signal-form .body").dataset.sel;
  if (lower && sel) {
    const { source, kind, exercise } = JSON.parse(sel);
    lower.disabled = !(exercise ? state.drill : state.signals).get(`${source}:${kind}`);
  }
}

// --- compose a broadcast -----------------------------------------------------------------
export const PRIORITIES = ["emergency", "high", "normal"];
const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€";
const GSM_EXT = "^{}\\[~]|€";

/** What an SMS of `text` is: encoding, characters (GSM-7 units), segments. */
export function smsFacts(text) {
  if (!text) return { encoding: "GSM-7", chars: 0, segments: 0 };
  const chars = [...text];
  const gsm = chars.every((c) => GSM.includes(c));
  const units = gsm ? chars.reduce((n, c) => n + (GSM_EXT.includes(c) ? 2 : 1), 0) : chars.length;
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  return { encoding: gsm ? "GSM-7" : "UCS-2", chars: units, segments: units <= single ? 1 : Math.ceil(units / multi) };
}
export function segments(text) { return smsFacts(text).segments; }

/** Accents off a Latin value (Pavilhão → Pavilhao) so a GSM-7 text stays GSM-7. */
export function gsmSafe(value) {
  const plain = value.normalize("NFD").replace(/[\u0300-\u036f]/g, "");
  return [...plain].every((c) => GSM.includes(c)) ? plain : value;
}

/** Values each variable may take, per language, from the data (zones, shelters, signals). */
function offeredValues(name, ctx) {
  const zones = ctx.zones.filter((f) => f.geometry.type !== "Point" && f.properties.kind !== "shelter_catchment");
  if (/zone|community|area/.test(name)) return zones.map((f) => ({ id: f.properties.id, names: f.properties.name || {} }));
  if (/shelter/.test(name)) return ctx.zones.filter((f) => f.properties.kind === "shelter").map((f) => ({ id: f.properties.id, names: f.properties.name || {} }));
  if (/signal/.test(name)) {
    const out = [];
    for (const src of state.catalogue) for (const k of src.kinds) for (const l of k.levels) out.push({ id: `${src.id}:${k.id}:${l.id}`, names: l.names });
    return out;
  }
  return null;
}

function nowHHMM() {
  return new Intl.DateTimeFormat("en", { timeZone: "Asia/Macau", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date());
}

export class Composer {
  constructor(ctx) {
    this.ctx = ctx;
    this.templates = null;
    this.template = null;
    this.lastPreview = null;
    this.key = null;
    this.timer = 0;
  }

  async loadTemplates() {
    const r = await api("/api/v1/broadcasts/templates");
    if (r.ok) this.templates = Array.isArray(r.data) ? r.data : (r.data.items || r.data.templates || []);
    this.render();
  }

  render() {
    const ctx = this.ctx;
    const body = $("#compose .body");
    const saved = this.values();
    const tplSel = h("select", { name: "template", disabled: !this.templates || null },
      h("option", { value: "" }, t("free_text")),
      (this.templates || []).map((tp) => h("option", { value: tp.id, title: tp.description || "", selected: this.template && this.template.id === tp.id || null }, inLang(tp.title, tp.id))));
    tplSel.onchange = () => this.useTemplate(tplSel.value);
    const texts = LANGS.map((l) => {
      const area = h("textarea", { name: `msg-${l}`, rows: 3, lang: l, maxlength: 1600, "aria-label": t("text_in", { l: LANG_LABEL[l] }) });
      area.value = saved.messages[l] || "";
      const count = h("small", { class: "count", "data-count": l });
      area.oninput = () => { this.grow(area); this.count(l); this.changed(); };
      return h("label", { class: "msg" }, h("span", null, t("text_in", { l: LANG_LABEL[l] }), count), area);
    });
    const zones = ctx.zones.filter((f) => f.geometry.type !== "Point" && f.properties.kind !== "shelter_catchment");
    const zoneBox = h("div", { class: "zones" }, zones.map((f) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "zone", value: f.properties.id, checked: saved.zones.includes(f.properties.id) || null, onchange: () => this.changed() }),
        ` ${pick(f.properties.name, f.properties.id)}`)));
    const drawStatus = h("span", { class: "muted draw-status" });
    const drawBtns = ctx.map ? h("div", { class: "buttons" },
      h("button", { type: "button", "data-testid": "draw", onclick: () => ctx.map.startDrawing((n, closed) => { drawStatus.textContent = closed ? t("polygon_set", { n }) : n ? `${t("drawing")} (${n})` : ""; if (closed) this.changed(); }) }, t("draw")),
      h("button", { type: "button", onclick: () => ctx.map.finishDrawing() }, t("finish")),
      h("button", { type: "button", onclick: () => { ctx.map.clearDrawing(); this.changed(); } }, t("clear")), drawStatus) : null;
    if (ctx.map && ctx.map.polygon) drawStatus.textContent = t("polygon_set", { n: ctx.map.polygon.length });
    const ch = (v, label) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "channel", value: v, checked: saved.channels.includes(v) || null, onchange: () => this.changed() }), ` ${label}`);
    const exercise = h("label", { class: "check ex" }, h("input", { type: "checkbox", name: "exercise", checked: saved.exercise || null, onchange: () => { for (const l of LANGS) this.count(l); this.changed(); } }), ` ${t("exercise")}`);
    const sendAt = h("input", { type: "datetime-local", name: "send_at", value: saved.sendAtRaw || null });
    // the queue lane: the template's unless the drafter says otherwise
    const lane = saved.priority || (this.template && this.template.priority) || "normal";
    const priority = h("select", { name: "priority", onchange: () => this.changed() },
      PRIORITIES.map((p) => h("option", { value: p, selected: p === lane || null }, t(`pr_${p}`))));
    this.out = h("div", { class: "preview-out", "aria-live": "polite" });
    this.result = h("p", { class: "result", role: "status" });
    const send = h("button", { type: "button", class: "primary", "data-testid": "send" }, t("send"));
    send.onclick = () => this.askSend(send);
    body.replaceChildren(
      h("label", null, t("template"), tplSel), h("div", { class: "vars" }),
      h("div", { class: "msgs" }, texts),
      h("fieldset", null, h("legend", null, t("zones")), zoneBox, drawBtns),
      h("div", { class: "row" }, h("span", null, `${t("channels")}: `), ch("sms", t("sms")), ch("push", t("push")), exercise),
      h("label", null, t("send_at"), sendAt),
      h("label", null, t("priority"), priority, h("small", { class: "muted" }, t("pr_hint"))),
      this.out, h("div", { class: "buttons" }, send), this.result);
    if (this.template) this.renderVars(saved.vars);
    for (const l of LANGS) { this.count(l); this.grow($(`#compose [name="msg-${l}"]`)); }
    if (this.lastPreview) this.showPreview(this.lastPreview);
  }

  grow(area) { if (!area) return; area.style.height = "auto"; area.style.height = `${Math.max(area.scrollHeight + 4, 60)}px`; }

  /** Live, as the person types: encoding, characters and segments of one language's text. */
  count(l) {
    const area = $(`#compose [name="msg-${l}"]`);
    const box = $(`#compose [data-count="${l}"]`);
    if (!area || !box) return;
    // a drill's text goes out with the exercise mark in front: counted as it will be sent
    const drill = $("#compose input[name=exercise]")?.checked;
    const mark = drill ? (this.ctx.boot.exercise_marks || {})[l] || "" : "";
    const f = smsFacts(area.value && !area.value.startsWith(mark) ? mark + area.value : area.value);
    box.textContent = area.value ? `${f.encoding} · ${t("chars", { c: f.chars, s: f.segments })}` : "";
    box.className = `count${f.encoding === "UCS-2" && !l.startsWith("zh") ? " warn" : ""}`;
  }

  values() {
    const body = $("#compose .body");
    const v = { messages: {}, zones: [], channels: ["sms"], exercise: false, sendAtRaw: "", priority: "", vars: {} };
    if (!body || !body.querySelector("textarea")) return v;
    for (const l of LANGS) { const a = body.querySelector(`[name="msg-${l}"]`); if (a && a.value.trim()) v.messages[l] = a.value.trim(); }
    v.zones = $$("input[name=zone]:checked", body).map((i) => i.value);
    v.channels = $$("input[name=channel]:checked", body).map((i) => i.value);
    v.exercise = Boolean(body.querySelector("input[name=exercise]")?.checked);
    v.sendAtRaw = body.querySelector("input[name=send_at]")?.value || "";
    v.priority = body.querySelector("select[name=priority]")?.value || "";
    for (const el of $$("[data-var]", body)) v.vars[`${el.dataset.var}:${el.dataset.lang || ""}`] = el.value;
    return v;
  }

  useTemplate(id) {
    this.template = (this.templates || []).find((tp) => tp.id === id) || null;
    const lane = $("#compose select[name=priority]");
    if (lane) lane.value = (this.template && this.template.priority) || "normal";
    this.renderVars({});
    this.fillTemplate();
  }

  /** One row per variable: a choice from the data (its name in each language), or a value per language. */
  renderVars(saved) {
    const vars = $("#compose .vars");
    vars.replaceChildren();
    const tp = this.template;
    if (!tp) return;
    for (const [name, what] of Object.entries(tp.variables || {})) {
      const offered = offeredValues(name, this.ctx);
      const row = h("fieldset", { class: "var" }, h("legend", null, `{${name}} — ${what}`));
      const perLang = LANGS.map((l) => {
        const input = h("input", { "data-var": name, "data-lang": l, lang: l, "aria-label": `{${name}} ${LANG_LABEL[l]}`, value: saved[`${name}:${l}`] ?? (/_at$|time/.test(name) ? nowHHMM() : "") });
        input.oninput = () => this.fillTemplate();
        return h("label", null, LANG_LABEL[l], input);
      });
      if (offered) {
        const sel = h("select", { "data-choice": name, "aria-label": `{${name}}` }, h("option", { value: "" }, t("choose")),
          offered.map((o) => h("option", { value: o.id }, pick(o.names, o.id))));
        sel.onchange = () => this.choose(name, sel.value);
        row.append(h("label", { class: "wide" }, t("from_data"), sel));
      }
      row.append(h("div", { class: "per-lang" }, perLang));
      vars.append(row);
    }
  }

  /** A value chosen from the data: each language gets the data's own name in that language. */
  choose(name, id) {
    const o = (offeredValues(name, this.ctx) || []).find((x) => x.id === id);
    if (!o) return;
    for (const l of LANGS) {
      const input = $(`#compose [data-var="${name}"][data-lang="${l}"]`);
      if (!input) continue;
      const value = o.names[l] || pick(o.names, id);
      const tpl = ((this.template && this.template.messages) || {})[l] || "";
      input.value = smsFacts(tpl.replace(/\{\w+\}/g, "")).encoding === "GSM-7" ? gsmSafe(value) : value;
    }
    if (/zone|community|area/.test(name)) {
      const box = $(`#compose input[name=zone][value="${id}"]`);
      if (box && !box.checked) box.checked = true;
    }
    this.fillTemplate();
  }

  /** The template's texts with each language's values ({name} where still empty). */
  fillTemplate() {
    const tp = this.template;
    if (!tp) return;
    for (const l of LANGS) {
      const a = $(`#compose [name="msg-${l}"]`);
      const text = (tp.messages || {})[l];
      if (!a || text === undefined) continue;
      a.value = text.replace(/\{(\w+)\}/g, (m, k) => {
        const input = $(`#compose [data-var="${k}"][data-lang="${l}"]`);
        return (input && input.value.trim()) || m;
      }).replace(/\{\{/g, "{").replace(/\}\}/g, "}");
      this.grow(a);
      this.count(l);
    }
    this.changed();
  }

  /** Prefill from another screen (an evacuation order's broadcast). */
  prefill({ template, zone }) {
    this.template = (this.templates || []).find((tp) => tp.id === template) || null;
    this.render();
    if (!this.template) return;
    for (const name of Object.keys(this.template.variables || {})) {
      if (/zone/.test(name) && zone) this.choose(name, zone);
      if (/shelter/.test(name)) { const s = nearestShelter(zone, this.ctx); if (s) this.choose(name, s); }
    }
    const sel = $("#compose select[name=template]");
    if (sel) sel.value = this.template.id;
  }

  body() {
    const v = this.values();
    const missing = LANGS.filter((l) => !v.messages[l]);
    if (missing.length) return { error: `${t("need_text")}: ${missing.map((l) => LANG_LABEL[l]).join(", ")}` };
    const unfilled = LANGS.filter((l) => /\{\w+\}/.test(v.messages[l]));
    if (unfilled.length) return { error: `${t("fill_vars")}: ${unfilled.map((l) => LANG_LABEL[l]).join(", ")}` };
    const area = this.ctx.map && this.ctx.map.drawnArea();
    if (!v.zones.length && !area) return { error: t("need_target") };
    // Macau time, as the field says; a time already gone is said here, in the screen's language
    if (v.sendAtRaw && Date.parse(`${v.sendAtRaw.length === 16 ? v.sendAtRaw + ":00" : v.sendAtRaw}+08:00`) < Date.now()) return { error: t("send_at_past") };
    // titled in English, as the server titles a broadcast drafted from a template
    const b = { title: this.template ? this.template.title.en || "" : "", messages: v.messages, zones: v.zones, channels: v.channels.length ? v.channels : ["sms"], send_at: v.sendAtRaw ? `${v.sendAtRaw.length === 16 ? v.sendAtRaw + ":00" : v.sendAtRaw}+08:00` : null, exercise: v.exercise, priority: v.priority || "normal" };
    if (area) b.area = area;
    return { body: b };
  }

  /** Something changed: the preview (audience, cost, ETA, each language's message) follows. */
  changed() {
    this.key = null;  // another message: another action
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { const { body } = this.body(); if (body) this.preview(); }, 500);
  }

  show(kind, ...nodes) { this.out.className = `preview-out ${kind}`; this.out.replaceChildren(...nodes); }

  async preview() {
    const { body, error } = this.body();
    if (error) { this.show("bad", error); return null; }
    const r = await api("/api/v1/broadcasts/preview", { method: "POST", body });
    if (!r.ok) { this.show("bad", errorText(r)); return null; }
    this.lastPreview = r.data;
    this.showPreview(r.data);
    return r.data;
  }

  showPreview(p) { this.show("ok", previewTable(p, this.ctx)); }

  async askSend(button) {
    const { body, error } = this.body();
    if (error) { this.show("bad", error); return; }
    button.disabled = true;
    const p = await this.preview();
    button.disabled = false;
    if (!p) return;
    const n = (p.audience && p.audience.total) ?? "?";
    const question = t(body.exercise ? "confirm_send_ex" : "confirm_send_live", { n: fmtNum(n) });
    if (!(await ask(button, question, { danger: !body.exercise }))) return;
    this.key ||= newKey();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    this.result.className = "result busy";
    this.result.textContent = t("working");
    const r = await api("/api/v1/broadcasts", { method: "POST", body, key: this.key });
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (!r.ok) {
      if (r.status >= 400 && r.status < 500) this.key = null;
      this.result.className = "result bad";
      this.result.textContent = errorText(r);
      return;
    }
    this.key = null;
    const b = broadcastOf(r.data) || {};
    mergeBroadcast({ messages: body.messages, zones: body.zones, area: body.area, exercise: body.exercise, created_by: this.ctx.me.name, ...b });
    touch("broadcasts", "approvals", "map", "counters");
    // The form is emptied for the next message; what was sent stays said.
    this.template = null;
    this.lastPreview = null;
    this.ctx.map && this.ctx.map.clearDrawing();
    const body_ = $("#compose .body");
    for (const a of $$("textarea", body_)) a.value = "";
    for (const c of $$("input[name=zone], input[name=exercise]", body_)) c.checked = false;
    for (const lane of $$("select[name=priority]", body_)) lane.value = "";
    this.render();
    this.result.className = "result ok";
    this.result.setAttribute("data-testid", "sent");
    this.result.textContent = `✓ ${t("sent_ok", { id: b.id, s: t(`st_${b.status}`) })}` +
      (b.status === "awaiting_approval" ? ` — ${t("needs_approval", { n: fmtNum(this.ctx.boot.approval_threshold) })}` : "");
  }
}

// --- change a broadcast not yet started (PATCH; its drafter only) ----------------------------
const EDITABLE = ["awaiting_approval", "scheduled"];

/** Whether this person may change `b` (the server checks again; its refusals are shown). */
export function editable(ctx, b) {
  return Boolean(ctx.can.draft_broadcast && ctx.me && b.created_by === ctx.me.name && EDITABLE.includes(b.status));
}

const macauMinute = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Macau", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
/** An ISO time as the datetime-local field shows it: Macau time, to the minute. */
function macauLocal(iso) { return iso ? macauMinute.format(new Date(iso)).replace(" ", "T") : ""; }

/** The editor of broadcast `id` under the broadcasts list (outside the list, which redraws
 * with every progress event): its texts, zones, send time and priority; Save sends only what
 * changed. */
export function openEditor(ctx, id) {
  const box = $("#bc-edit");
  let current = state.broadcasts.get(Number(id));
  if (!box || !current) return;
  const texts = LANGS.map((l) => {
    const area = h("textarea", { name: `edit-${l}`, rows: 3, lang: l, maxlength: 1600, "aria-label": t("text_in", { l: LANG_LABEL[l] }) });
    const count = h("small", { class: "count" });
    area.oninput = () => {
      const f = smsFacts(area.value);
      count.textContent = area.value ? `${f.encoding} · ${t("chars", { c: f.chars, s: f.segments })}` : "";
      area.style.height = "auto";
      area.style.height = `${Math.max(area.scrollHeight + 4, 60)}px`;
    };
    return h("label", { class: "msg" }, h("span", null, t("text_in", { l: LANG_LABEL[l] }), count), area);
  });
  const zones = ctx.zones.filter((f) => f.geometry.type !== "Point" && f.properties.kind !== "shelter_catchment");
  const zoneBox = h("div", { class: "zones" }, zones.map((f) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "edit-zone", value: f.properties.id }),
      ` ${pick(f.properties.name, f.properties.id)}`)));
  const sendAt = h("input", { type: "datetime-local", name: "edit-send_at" });
  const lane = h("select", { name: "edit-priority" }, PRIORITIES.map((p) => h("option", { value: p }, t(`pr_${p}`))));
  // The fields show the broadcast as the server has it (a drill's texts with their EXERCISE
  // mark), at opening and after each save: an untouched field is never a change.
  const fill = () => {
    for (const label of texts) {
      const area = $("textarea", label);
      area.value = (current.messages || {})[area.lang] || "";
      area.oninput();
    }
    for (const box of $$("input", zoneBox)) box.checked = (current.zones || []).includes(box.value);
    sendAt.value = macauLocal(current.send_at);
    lane.value = current.priority || "normal";
  };
  const result = h("p", { class: "result", role: "status", "aria-live": "polite", "data-testid": "edit-result" });
  const save = h("button", { type: "button", class: "primary", "data-testid": "save-edit" }, t("save_changes"));
  let pending = null;
  const changes = () => {
    const body = {};
    const messages = Object.fromEntries(LANGS.map((l) => [l, $(`[name="edit-${l}"]`, box).value.trim()]));
    const missing = LANGS.filter((l) => !messages[l]);
    if (missing.length) return { error: `${t("need_text")}: ${missing.map((l) => LANG_LABEL[l]).join(", ")}` };
    if (LANGS.some((l) => messages[l] !== ((current.messages || {})[l] || ""))) body.messages = messages;
    const picked = $$("input[name=edit-zone]:checked", box).map((i) => i.value);
    if (!picked.length && !current.area) return { error: t("need_target") };
    const before = current.zones || [];
    if (picked.length !== before.length || picked.some((z) => !before.includes(z))) body.zones = picked;
    const raw = sendAt.value;
    if (raw !== macauLocal(current.send_at)) {
      if (!raw) return { error: t("send_at_keep") };
      const at = `${raw.length === 16 ? raw + ":00" : raw}+08:00`;
      if (Date.parse(at) < Date.now()) return { error: t("edit_send_at_past") };
      body.send_at = at;
    }
    if (lane.value !== (current.priority || "normal")) body.priority = lane.value;
    return { body };
  };
  action(save, {
    result,
    confirm: () => {
      pending = changes();
      if (pending.error) { show(result, "bad", pending.error); return false; }
      if (!Object.keys(pending.body).length) { show(result, "bad", t("nothing_changed")); return false; }
      return "";
    },
    run: (key) => api(`/api/v1/broadcasts/${current.id}`, { method: "PATCH", key, body: pending.body }),
    success: (data) => {
      const voided = Boolean(current.approved_by) && !data.approved_by;
      current = mergeBroadcast(broadcastOf(data)) || current;
      fill();
      touch("broadcasts", "approvals", "map", "counters");
      return t("edit_saved", { id: current.id, s: t(`st_${current.status}`) }) + (voided ? ` — ${t("approval_voided")}` : "");
    },
  });
  box.dataset.broadcast = current.id;
  box.hidden = false;
  box.replaceChildren(
    h("h3", null, t("edit_bc", { id: current.id }), " ", current.exercise ? h("span", { class: "chip ex" }, t("exercise")) : h("span", { class: "chip live" }, t("live_chip"))),
    // said where there is a second person's approval to void (or one awaited), never on a
    // broadcast small enough to need none
    needsSecond(current) ? h("p", { class: "muted", "data-testid": "edit-voids" }, t("edit_voids")) : null,
    h("div", { class: "msgs" }, texts),
    h("fieldset", null, h("legend", null, t("zones")), zoneBox),
    h("label", null, t("edit_send_at"), sendAt),
    h("label", null, t("priority"), lane),
    h("div", { class: "buttons" }, save, " ", h("button", { type: "button", "data-testid": "close-edit", onclick: () => { box.hidden = true; box.replaceChildren(); } }, t("close"))),
    result);
  fill();
  box.scrollIntoView({ block: "nearest" });
  $("textarea", box).focus();
}

function needsSecond(b) {
  return b.status === "awaiting_approval" || Boolean(b.approved_by && b.approved_by !== b.created_by);
}

function nearestShelter(zoneId, ctx) {
  const zone = ctx.zones.find((f) => f.properties.id === zoneId);
  const shelters = ((state.situation && state.situation.evacuation && state.situation.evacuation.shelter_list) || []).filter((s) => s.is_open && s.room > 0);
  const pool = shelters.length ? shelters : ((state.situation && state.situation.evacuation && state.situation.evacuation.shelter_list) || []);
  if (!pool.length) return null;
  const inZone = pool.find((s) => s.zone_id === zoneId);
  if (inZone || !zone) return (inZone || pool[0]).id;
  const ring = zone.geometry.type === "Polygon" ? zone.geometry.coordinates[0] : zone.geometry.coordinates[0][0];
  const cx = ring.reduce((a, p) => a + p[0], 0) / ring.length, cy = ring.reduce((a, p) => a + p[1], 0) / ring.length;
  return pool.slice().sort((a, b) => Math.hypot(a.lon - cx, a.lat - cy) - Math.hypot(b.lon - cx, b.lat - cy))[0].id;
}

function previewTable(p, ctx) {
  const rows = [];
  const audience = p.audience || {};
  const total = audience.total ?? 0;
  const langs = p.languages || {};
  const cur = p.cost && p.cost.currency ? ` ${p.cost.currency}` : "";
  const count = (l) => {
    const r = langs[l] && langs[l].recipients;
    if (r && typeof r === "object") return Object.values(r).reduce((a, b) => a + (b || 0), 0);
    return (audience.by_language || {})[l] ?? 0;
  };
  rows.push(h("table", { class: "preview" },
    h("tr", null, h("th", null, t("language")), h("th", { class: "enc" }, t("encoding")), h("th", { class: "chars" }, t("characters")), h("th", null, t("segments")), h("th", null, t("recipients_h")), h("th", null, t("cost"))),
    LANGS.filter((l) => langs[l]).map((l) => {
      const x = langs[l];
      return h("tr", { class: x.too_long ? "bad" : null, "data-lang": l }, h("td", null, LANG_LABEL[l]), h("td", { class: "enc" }, x.encoding),
        h("td", { class: "chars" }, fmtNum(x.characters)), h("td", null, fmtNum(x.segments)), h("td", null, fmtNum(count(l))), h("td", null, `${fmtNum(x.cost)}${cur}`));
    }),
    h("tr", { class: "total" }, h("td", null, t("total")), h("td", { class: "enc" }, ""), h("td", { class: "chars" }, ""),
      h("td", null, p.cost ? fmtNum(p.cost.segments) : "—"), h("td", { "data-testid": "preview-recipients" }, fmtNum(total)),
      h("td", null, p.cost ? `${fmtNum(p.cost.total)}${cur}` : "—"))));
  if (audience.by_channel) rows.push(h("p", { class: "muted" }, Object.entries(audience.by_channel).map(([c, n]) => `${t(c) || c} ${fmtNum(n)}`).join(" · ")));
  const eta = p.eta || {};
  if (typeof eta.seconds === "number") {
    const queued = eta.queue_ahead_messages || 0;
    rows.push(h("p", { class: eta.within_limit === false ? "bad" : null, "data-testid": "preview-eta" },
      t("eta_full", { d: fmtDuration(eta.seconds_with_queue ?? eta.seconds) }),
      queued ? ` (${t("queue_ahead", { n: fmtNum(queued), d: fmtDuration(eta.queue_ahead_seconds) })})` : ` (${t("queue_empty")})`));
  }
  if (p.needs_approval) rows.push(h("p", { class: "warn" }, t("needs_approval", { n: fmtNum(p.approval_threshold ?? ctx.boot.approval_threshold) })));
  for (const w of [].concat(p.warnings || [])) rows.push(h("p", { class: "warn" }, typeof w === "string" ? w : (w.message || JSON.stringify(w))));
  // What each language's recipient gets, as their phone shows it.
  rows.push(h("div", { class: "phones" }, LANGS.filter((l) => langs[l]).map((l) =>
    h("figure", { class: "phone", lang: l, "data-phone": l }, h("figcaption", null, LANG_LABEL[l]), h("div", { class: "sms" }, langs[l].text)))));
  return h("div", null, rows);
}

// --- approve, reject, cancel, prompts -------------------------------------------------------
const QUESTIONS = {
  approve: (b) => t("confirm_approve", { id: b.id, n: fmtNum(b.recipients || 0) }),
  reject: (b) => t("confirm_reject", { id: b.id }),
  cancel: (b) => t("confirm_cancel_bc", { id: b.id }),
  "prompt-dismiss": () => t("confirm_dismiss"),
};

export function installBroadcastActions(ctx) {
  const keys = new Map();  // one Idempotency-Key per action, kept while the network fails
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn || btn.disabled) return;
    const { action, id } = btn.dataset;
    if (action === "edit") { openEditor(ctx, id); return; }
    const b = state.broadcasts.get(Number(id)) || state.broadcasts.get(id) || { id };
    const q = QUESTIONS[action];
    if (q && !(await ask(btn, q(b), { danger: action !== "approve" }))) return;
    const k = `${action}:${id}`;
    if (!keys.has(k)) keys.set(k, newKey());
    btn.disabled = true;
    btn.setAttribute("aria-busy", "true");
    let r;
    if (action === "approve") r = await api(`/api/v1/broadcasts/${id}/approve`, { method: "POST", key: keys.get(k) });
    else if (action === "prompt-done" || action === "prompt-dismiss") {
      r = await api(`/api/v1/rules/prompts/${id}/resolve`, { method: "POST", key: keys.get(k), body: { status: action === "prompt-done" ? "done" : "dismissed" } });
      if (r.ok) { keys.delete(k); state.prompts.delete(Number(id)); touch("prompts"); return; }
    } else if (action === "reject" || action === "cancel") r = await api(`/api/v1/broadcasts/${id}/cancel`, { method: "POST", key: keys.get(k) });
    btn.removeAttribute("aria-busy");
    if (r && r.ok) {
      keys.delete(k);
      const got = broadcastOf(r.data);
      if (got) mergeBroadcast(got);
      touch("broadcasts", "approvals", "map", "counters");
      const done = h("span", { class: "result ok", role: "status" }, ` ✓ ${t("done_ok")}`);
      btn.parentNode && btn.parentNode.append(done);
    } else if (r) {
      if (r.status >= 400 && r.status < 500) keys.delete(k);
      btn.disabled = false;
      btn.parentNode.append(h("span", { class: "result bad", role: "status" }, ` ${errorText(r)}`));
    }
  });
}
