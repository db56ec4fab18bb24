// What a person may do from the dashboard, by role: raise or lower a signal, compose a
// broadcast (preview, send), approve or reject someone else's, cancel. The server checks
// every role again; these forms only hide what a role cannot do.
import { h, $, $$ } from "./dom.js";
import { t, pick, fmtNum, fmtDuration, LANGS, LANG_LABEL } from "./i18n.js";
import { api } from "./api.js";
import { state, mergeBroadcast, touch, broadcastOf } from "./store.js";

// --- signal raise / lower ----------------------------------------------------------------
export function renderSignalForm(ctx) {
  const body = $("#signal-form .body");
  const keep = body.dataset.sel ? JSON.parse(body.dataset.sel) : {};
  const srcSel = h("select", { name: "source" }, state.catalogue.map((s) => h("option", { value: s.id }, `${s.id} · ${pick(s.names)}`)));
  const kindSel = h("select", { name: "kind" });
  const levelSel = h("select", { name: "level" });
  const note = h("input", { name: "note", maxlength: 500, placeholder: t("note") });
  const raise = h("button", { type: "button", class: "primary", "data-testid": "raise" }, t("raise"));
  const lower = h("button", { type: "button", class: "danger", "data-testid": "lower" }, t("lower"));
  const confirmBox = h("div", { class: "confirm", hidden: true });
  const result = h("p", { class: "result" });

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
    const inForce = state.signals.get(`${srcSel.value}:${kindSel.value}`);
    lower.disabled = !inForce;
    body.dataset.sel = JSON.stringify({ source: srcSel.value, kind: kindSel.value, level: levelSel.value });
  };
  if (keep.source) srcSel.value = keep.source;
  srcSel.onchange = () => { keep.kind = keep.level = null; fillKinds(); };
  kindSel.onchange = () => { keep.level = null; fillLevels(); };
  levelSel.onchange = () => { body.dataset.sel = JSON.stringify({ source: srcSel.value, kind: kindSel.value, level: levelSel.value }); };
  fillKinds();

  const ask = (level) => {
    const src = state.catalogue.find((s) => s.id === srcSel.value);
    const kind = src.kinds.find((k) => k.id === kindSel.value);
    const lv = kind.levels.find((l) => l.id === (level ?? state.signals.get(`${src.id}:${kind.id}`)?.level));
    const label = `${src.id} ${pick(lv ? lv.names : kind.names)}`;
    confirmBox.replaceChildren(
      h("p", null, level === null ? t("confirm_lower", { s: label }) : t("confirm_signal", { s: label })),
      h("button", { type: "button", class: level === null ? "danger" : "primary", "data-testid": "confirm-signal", onclick: () => send(level) }, t("confirm")),
      h("button", { type: "button", onclick: () => { confirmBox.hidden = true; } }, t("back")));
    confirmBox.hidden = false;
  };
  const send = async (level) => {
    confirmBox.hidden = true;
    const r = await api("/api/v1/signals", { method: "POST", body: { source: srcSel.value, kind: kindSel.value, level, note: note.value.trim() || null } });
    result.className = `result ${r.ok ? "ok" : "bad"}`;
    result.textContent = r.ok ? `✓ ${srcSel.value} ${kindSel.value}: ${level ?? t("lower")}` : `${t("error")}: ${r.message}`;
    if (r.ok) note.value = "";
  };
  raise.onclick = () => ask(levelSel.value);
  lower.onclick = () => ask(null);
  body.replaceChildren(
    h("label", null, t("source"), srcSel), h("label", null, t("kind"), kindSel), h("label", null, t("level"), levelSel),
    h("label", { class: "wide" }, t("note"), note), h("div", { class: "buttons" }, raise, lower), confirmBox, result);
}

export function refreshSignalForm() {
  const lower = $("#signal-form [data-testid=lower]");
  const sel = $("#signal-form .body").dataset.sel;
  if (lower && sel) { const { source, kind } = JSON.parse(sel); lower.disabled = !state.signals.get(`${source}:${kind}`); }
}

// --- compose a broadcast -----------------------------------------------------------------
const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€";

export function segments(text) {
  if (!text) return 0;
  const chars = [...text];
  const gsm = chars.every((c) => GSM.includes(c));
  const len = gsm ? chars.reduce((n, c) => n + ("^{}\\[~]|€".includes(c) ? 2 : 1), 0) : chars.length;
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  return len <= single ? 1 : Math.ceil(len / multi);
}

export class Composer {
  constructor(ctx) {
    this.ctx = ctx;
    this.templates = null;
    this.lastPreview = null;
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
      h("option", { value: "" }, this.templates ? t("none") : `${t("none")} — ${t("not_available")}`),
      (this.templates || []).map((tp, i) => h("option", { value: i, title: tp.description || "" }, pick(tp.title || tp.name, tp.id))));
    tplSel.onchange = () => this.useTemplate(tplSel.value);
    const texts = LANGS.map((l) => {
      const area = h("textarea", { name: `msg-${l}`, rows: 2, lang: l, maxlength: 1600 });
      area.value = saved.messages[l] || "";
      const count = h("small", { class: "count" });
      const upd = () => { count.textContent = area.value ? t("chars", { c: [...area.value].length, s: segments(area.value) }) : ""; };
      area.oninput = upd; upd();
      return h("label", { class: "msg" }, h("span", null, t("text_in", { l: LANG_LABEL[l] }), count), area);
    });
    const zones = ctx.zones.filter((f) => f.geometry.type !== "Point");
    const zoneBox = h("div", { class: "zones" }, zones.map((f) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "zone", value: f.properties.id, checked: saved.zones.includes(f.properties.id) || null }),
        ` ${pick(f.properties.name, f.properties.id)}`)));
    const drawStatus = h("span", { class: "muted draw-status" });
    const drawBtns = ctx.map ? h("div", { class: "buttons" },
      h("button", { type: "button", "data-testid": "draw", onclick: () => ctx.map.startDrawing((n, closed) => { drawStatus.textContent = closed ? t("polygon_set", { n }) : n ? `${t("drawing")} (${n})` : ""; }) }, t("draw")),
      h("button", { type: "button", onclick: () => ctx.map.finishDrawing() }, t("finish")),
      h("button", { type: "button", onclick: () => ctx.map.clearDrawing() }, t("clear")), drawStatus) : null;
    if (ctx.map && ctx.map.polygon) drawStatus.textContent = t("polygon_set", { n: ctx.map.polygon.length });
    const ch = (v, label) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "channel", value: v, checked: saved.channels.includes(v) || null }), ` ${label}`);
    const exercise = h("label", { class: "check ex" }, h("input", { type: "checkbox", name: "exercise", checked: saved.exercise || null }), ` ${t("exercise")}`);
    const sendAt = h("input", { type: "datetime-local", name: "send_at", value: saved.sendAtRaw || null });
    this.out = h("div", { class: "preview-out" });
    const preview = h("button", { type: "button", "data-testid": "preview", onclick: () => this.preview() }, t("preview"));
    const send = h("button", { type: "button", class: "primary", "data-testid": "send", onclick: () => this.askSend() }, t("send"));
    body.replaceChildren(
      h("label", null, t("template"), tplSel), h("div", { class: "vars" }),
      h("div", { class: "msgs" }, texts),
      h("fieldset", null, h("legend", null, t("zones")), zoneBox, drawBtns),
      h("div", { class: "row" }, h("span", null, `${t("channels")}: `), ch("sms", t("sms")), ch("push", t("push")), exercise),
      h("label", null, t("send_at"), sendAt),
      h("div", { class: "buttons" }, preview, send), this.out);
  }

  values() {
    const body = $("#compose .body");
    const v = { messages: {}, zones: [], channels: ["sms"], exercise: false, sendAtRaw: "" };
    if (!body || !body.querySelector("textarea")) return v;
    for (const l of LANGS) { const a = body.querySelector(`[name="msg-${l}"]`); if (a && a.value.trim()) v.messages[l] = a.value.trim(); }
    v.zones = $$("input[name=zone]:checked", body).map((i) => i.value);
    v.channels = $$("input[name=channel]:checked", body).map((i) => i.value);
    v.exercise = Boolean(body.querySelector("input[name=exercise]")?.checked);
    v.sendAtRaw = body.querySelector("input[name=send_at]")?.value || "";
    return v;
  }

  useTemplate(i) {
    const tp = this.templates && this.templates[i];
    this.template = tp || null;
    const vars = $("#compose .vars");
    vars.replaceChildren();
    if (!tp) return;
    for (const [name, what] of Object.entries(tp.variables || {})) {
      const input = h("input", { name: `var-${name}`, placeholder: what, "data-var": name });
      input.oninput = () => this.fillTemplate();
      vars.append(h("label", null, `{${name}}`, input));
    }
    this.fillTemplate();
  }

  /** The template's texts with the variables filled in so far ({name} where still empty). */
  fillTemplate() {
    const tp = this.template;
    if (!tp) return;
    const values = Object.fromEntries($$("#compose [data-var]").map((el) => [el.dataset.var, el.value.trim()]));
    for (const l of LANGS) {
      const a = $(`#compose [name="msg-${l}"]`);
      const text = (tp.messages || {})[l];
      if (!a || text === undefined) continue;
      a.value = text.replace(/\{(\w+)\}/g, (m, k) => values[k] || m).replace(/\{\{/g, "{").replace(/\}\}/g, "}");
      a.dispatchEvent(new Event("input"));
    }
  }

  body() {
    const v = this.values();
    const missing = LANGS.filter((l) => !v.messages[l]);
    if (missing.length) return { error: `${t("need_text")}: ${missing.map((l) => LANG_LABEL[l]).join(", ")}` };
    const area = this.ctx.map && this.ctx.map.drawnArea();
    if (!v.zones.length && !area) return { error: t("need_target") };
    const b = { title: this.template ? this.template.title || "" : "", messages: v.messages, zones: v.zones, channels: v.channels.length ? v.channels : ["sms"], send_at: v.sendAtRaw ? `${v.sendAtRaw.length === 16 ? v.sendAtRaw + ":00" : v.sendAtRaw}+08:00` : null, exercise: v.exercise };
    if (area) b.area = area;
    return { body: b };
  }

  show(kind, ...nodes) { this.out.className = `preview-out ${kind}`; this.out.replaceChildren(...nodes); }

  async preview() {
    const { body, error } = this.body();
    if (error) { this.show("bad", error); return null; }
    const r = await api("/api/v1/broadcasts/preview", { method: "POST", body });
    if (!r.ok) { this.show("bad", r.status === 404 ? t("not_available") : `${t("error")}: ${r.message}`); return null; }
    this.lastPreview = r.data;
    this.show("ok", previewTable(r.data, this.ctx));
    return r.data;
  }

  async askSend() {
    const { body, error } = this.body();
    if (error) { this.show("bad", error); return; }
    const p = await this.preview();
    if (!p) return;
    const n = (p.audience && p.audience.total) ?? p.recipients ?? "?";
    const confirmBtn = h("button", { type: "button", class: body.exercise ? "primary" : "danger", "data-testid": "confirm-send", onclick: () => this.send(body) },
      t(body.exercise ? "confirm_send_ex" : "confirm_send_live", { n: fmtNum(n) }));
    this.out.append(h("div", { class: "confirm" }, confirmBtn, h("button", { type: "button", onclick: () => confirmBtn.parentNode.remove() }, t("back"))));
  }

  async send(body) {
    const r = await api("/api/v1/broadcasts", { method: "POST", body });
    if (!r.ok) { this.show("bad", r.status === 404 ? t("not_available") : `${t("error")}: ${r.message}`); return; }
    const b = broadcastOf(r.data);
    if (b) { mergeBroadcast({ messages: body.messages, zones: body.zones, area: body.area, exercise: body.exercise, created_by: this.ctx.me.name, ...b }); touch("broadcasts", "approvals", "map", "counters"); }
    this.show("ok", h("p", { "data-testid": "sent" }, t("sent_ok", { id: r.data.id, s: t(`st_${r.data.status}`) })),
      r.data.status === "awaiting_approval" ? h("p", null, t("needs_approval", { n: fmtNum(this.ctx.boot.approval_threshold) })) : null);
    this.ctx.map && this.ctx.map.clearDrawing();
  }
}

function previewTable(p, ctx) {
  const rows = [];
  const audience = p.audience || {};
  const total = audience.total ?? p.recipients ?? p.total;
  const langs = p.languages || {};
  const byLang = audience.by_language || p.by_language || {};
  const codes = Object.keys(langs).length ? Object.keys(langs) : Object.keys(byLang);
  const count = (l) => {
    const r = langs[l] && langs[l].recipients;
    if (r && typeof r === "object") return Object.values(r).reduce((a, b) => a + (b || 0), 0);
    return byLang[l] ?? r;
  };
  rows.push(h("table", { class: "preview" },
    h("tr", null, h("th", null, t("language")), h("th", null, t("recipients")), h("th", null, t("segments")), h("th", null, t("cost"))),
    codes.map((l) => {
      const x = langs[l] || {};
      return h("tr", { class: x.too_long ? "bad" : null }, h("td", null, `${LANG_LABEL[l] || l}${x.encoding ? ` · ${x.encoding}` : ""}`),
        h("td", null, fmtNum(count(l))), h("td", null, x.segments === undefined ? "—" : fmtNum(x.segments)),
        h("td", null, x.cost === undefined ? "—" : fmtNum(x.cost)));
    }),
    h("tr", { class: "total" }, h("td", null, t("total")), h("td", { "data-testid": "preview-recipients" }, fmtNum(total)),
      h("td", null, p.cost && p.cost.segments !== undefined ? fmtNum(p.cost.segments) : "—"),
      h("td", null, p.cost && p.cost.total !== undefined ? `${fmtNum(p.cost.total)} ${p.cost.currency || ""}` : "—"))));
  if (audience.by_channel) rows.push(h("p", { class: "muted" }, Object.entries(audience.by_channel).map(([c, n]) => `${t(c) || c} ${fmtNum(n)}`).join(" · ")));
  const eta = p.eta && typeof p.eta === "object" ? p.eta.seconds : (p.eta_seconds ?? p.eta);
  if (typeof eta === "number") rows.push(h("p", { class: p.eta && p.eta.within_limit === false ? "bad" : null }, t("eta", { d: fmtDuration(eta) })));
  if (p.needs_approval) rows.push(h("p", { class: "warn" }, t("needs_approval", { n: fmtNum(p.approval_threshold ?? ctx.boot.approval_threshold) })));
  for (const w of [].concat(p.warnings || [])) rows.push(h("p", { class: "warn" }, typeof w === "string" ? w : (w.message || JSON.stringify(w))));
  return h("div", null, rows);
}

// --- approve, reject, cancel ---------------------------------------------------------------
export function installBroadcastActions() {
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (!btn) return;
    const { action, id } = btn.dataset;
    if ((action === "cancel" || action === "reject") && !btn.classList.contains("confirming")) {
      btn.classList.add("confirming");
      btn.dataset.label = btn.textContent;
      btn.textContent = t("confirm_cancel");
      setTimeout(() => { btn.classList.remove("confirming"); btn.textContent = btn.dataset.label; }, 5000);
      return;
    }
    btn.disabled = true;
    let r;
    if (action === "approve") r = await api(`/api/v1/broadcasts/${id}/approve`, { method: "POST" });
    else if (action === "prompt-done" || action === "prompt-dismiss") {
      r = await api(`/api/v1/rules/prompts/${id}/resolve`, { method: "POST", body: { status: action === "prompt-done" ? "done" : "dismissed" } });
      if (r.ok) { state.prompts.delete(Number(id)); touch("prompts"); return; }
    } else if (action === "reject" || action === "cancel") r = await api(`/api/v1/broadcasts/${id}/cancel`, { method: "POST" });
    if (r && r.ok) {
      const b = broadcastOf(r.data);
      if (b) mergeBroadcast(b);
      touch("broadcasts", "approvals", "map", "counters");
    } else if (r) {
      btn.disabled = false;
      btn.title = r.message;
      btn.parentNode.append(h("span", { class: "bad" }, ` ${t("error")}: ${r.message}`));
    }
  });
}
