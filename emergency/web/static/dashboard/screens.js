// The night's work, one screen per task, shown to the roles that may do it: the liaison
// desk, hazards, evacuation orders, shelters, crews, facilities, field links, vulnerable
// residents. Each action goes through act.js (confirm what cannot be undone, Idempotency-Key,
// button disabled in flight, result shown, form reset); each list reloads when an event says
// its data changed.
import { h, $ } from "./dom.js";
import { t, pick, word, fmtNum, fmtTime, LANGS, LANG_LABEL } from "./i18n.js";
import { api } from "./api.js";
import { state, listOf } from "./store.js";
import { action, show } from "./act.js";

const field = (label, input) => h("label", null, h("span", null, label), input);
const opt = (value, text, selected) => h("option", { value, selected: selected || null }, text);
const select = (name, options, attrs = {}) => h("select", { name, ...attrs }, options);
const resultEl = () => h("p", { class: "result", role: "status", "aria-live": "polite" });
const empty = (text) => h("p", { class: "empty" }, text);

function crews() { return (state.situation && state.situation.crews && state.situation.crews.items) || []; }
function shelters() { return (state.situation && state.situation.evacuation && state.situation.evacuation.shelter_list) || []; }

class Screen {
  constructor(ctx, { id, title, need, events = [] }) {
    Object.assign(this, { ctx, id, title, need, events });
    this.box = h("div", { class: "screen", id: `screen-${id}`, "data-screen": id, role: "tabpanel" });
    // What the last action did, kept across redraws of the lists under it.
    this.status = h("p", { class: "result screen-status", role: "status", "aria-live": "polite", "data-testid": "status" });
    this.loaded = false;
    this.timer = 0;
  }
  allowed() { return this.need.some((a) => this.ctx.can[a]); }
  /** Its data changed: reload and redraw, but never under the hands of someone typing there
   * or answering a confirmation (then again a little later). */
  changed(wait = 250) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.busy()) this.changed(700); else this.refresh();
    }, wait);
  }
  busy() {
    const focus = document.activeElement;
    const typing = this.box.contains(focus) && /INPUT|TEXTAREA|SELECT/.test(focus.tagName);
    return this.box.isConnected && Boolean(typing || this.box.querySelector(".confirm, [aria-busy=true]"));
  }
  // Asked again after the load: a confirmation opened while the data was on its way must not
  // vanish under the operator's hand (the redraw waits for it instead).
  async refresh() {
    await this.load();
    if (this.busy()) this.changed(700); else this.render();
  }
  async load() {}
  render() {}
  show(...nodes) { this.box.replaceChildren(this.status, ...nodes); }
}

// --- liaison desk -------------------------------------------------------------------------
class LiaisonScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "liaison", title: "sc_liaison", need: ["liaison"], events: ["liaison."] }); }
  async load() {
    const [notices, calls, contacts] = await Promise.all([
      api("/api/v1/liaison/notices"), api("/api/v1/liaison/calls?open_follow_ups=true"), api("/api/v1/liaison/contacts"),
    ]);
    this.notices = notices.ok ? notices.data : [];
    this.followUps = calls.ok ? calls.data : [];
    this.contacts = contacts.ok ? contacts.data : [];
  }
  render() {
    const waiting = (this.notices || []).filter((n) => n.status !== "acknowledged");
    this.show(
      h("h3", null, `${t("notices_waiting")}: ${fmtNum(waiting.length)}`),
      waiting.length ? h("div", { class: "rows" }, waiting.slice(0, 30).map((n) => this.noticeRow(n))) : empty(t("none_waiting")),
      h("h3", null, t("log_call")), (this.form ||= this.callForm()),
      h("h3", null, `${t("follow_ups")}: ${fmtNum((this.followUps || []).length)}`),
      (this.followUps || []).length ? h("div", { class: "rows" }, this.followUps.map((c) => this.followUpRow(c))) : empty(t("none_waiting")));
  }
  noticeRow(n) {
    const result = resultEl();
    const who = select("contact", [opt("", t("ack_desk")), ...(n.recipients || []).filter((r) => !r.acknowledged_at)
      .map((r) => opt(r.contact_id, `${t("ack_by_phone")}: ${r.name || r.contact_name || this.contactName(r.contact_id)}`))], { "aria-label": t("who_confirmed") });
    const note = h("input", { name: "note", maxlength: 500, placeholder: t("note"), "aria-label": t("note") });
    const btn = h("button", { type: "button", class: "primary", "data-testid": "notice-ack" }, t("acknowledge"));
    action(btn, {
      echo: this.status, result, danger: false,
      run: (key) => api(`/api/v1/liaison/notices/${n.id}/ack`, { method: "POST", key, body: { contact_id: who.value ? Number(who.value) : null, note: note.value.trim() || null } }),
      success: () => t("acked"), reset: () => { note.value = ""; this.changed(); },
    });
    const acked = (n.recipients || []).filter((r) => r.acknowledged_at).length;
    return h("div", { class: `row st-${n.status}`, "data-notice": n.id },
      h("div", { class: "row-main" }, h("span", { class: "muted" }, fmtTime(n.created_at)), " ",
        n.exercise ? h("span", { class: "chip ex" }, t("exercise")) : null, " ",
        h("b", null, pick(n.texts, n.kind)), " ",
        h("span", { class: `chip ${n.status === "escalated" ? "bad" : ""}` }, n.status === "escalated" ? t("escalated") : t("not_acked")),
        h("span", { class: "muted" }, ` ${acked}/${(n.recipients || []).length}`)),
      h("div", { class: "row-actions buttons" }, who, note, btn, result));
  }
  contactName(id) {
    const c = (this.contacts || []).find((x) => x.id === id);
    return c ? c.name : `#${id}`;
  }
  callForm() {
    const form = h("form", { class: "grid-form", "data-form": "call" });
    const direction = select("direction", [opt("inbound", t("call_in")), opt("outbound", t("call_out"))]);
    const contact = select("contact_id", [opt("", "—"), ...(this.contacts || []).map((c) => opt(c.id, c.name))]);
    const caller = h("input", { name: "caller", required: true, maxlength: 200 });
    const summary = h("textarea", { name: "summary", required: true, rows: 3, maxlength: 4000 });
    const follow = h("input", { name: "follow_up", maxlength: 2000 });
    const btn = h("button", { type: "submit", class: "primary", "data-testid": "log-call" }, t("log_call"));
    const result = resultEl();
    contact.onchange = () => { const c = (this.contacts || []).find((x) => String(x.id) === contact.value); if (c && !caller.value) caller.value = c.name; };
    form.append(field(t("direction"), direction), field(t("contact"), contact), field(t("caller"), caller),
      h("label", { class: "wide" }, h("span", null, t("summary")), summary), h("label", { class: "wide" }, h("span", null, t("follow_up")), follow),
      h("div", { class: "buttons" }, btn), result);
    action(btn, {
      echo: this.status, result, danger: false,
      confirm: () => (form.reportValidity() ? "" : false),
      run: (key) => api("/api/v1/liaison/calls", { method: "POST", key, body: {
        direction: direction.value, caller: caller.value.trim(), summary: summary.value.trim(),
        follow_up: follow.value.trim() || null, contact_id: contact.value ? Number(contact.value) : null } }),
      success: (d) => t("call_logged", { id: d.id }),
      reset: () => { form.reset(); this.changed(); },
    });
    return form;
  }
  followUpRow(c) {
    const result = resultEl();
    const btn = h("button", { type: "button", "data-testid": "follow-up-done" }, t("follow_up_done"));
    action(btn, { echo: this.status, result, confirm: () => t("confirm_follow_up"), danger: false,
      run: (key) => api(`/api/v1/liaison/calls/${c.id}/follow-up-done`, { method: "POST", key }),
      success: () => t("done_ok"), reset: () => this.changed() });
    return h("div", { class: "row", "data-call": c.id },
      h("div", { class: "row-main" }, h("span", { class: "muted" }, fmtTime(c.at || c.created_at)), " ", h("b", null, c.caller), " — ", c.follow_up),
      h("div", { class: "row-actions buttons" }, btn, result));
  }
}

// --- hazards ----------------------------------------------------------------------------------
class HazardScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "hazards", title: "hazards", need: ["manage_field"], events: ["inspection.updated", "crew.updated"] }); }
  async load() {
    const [hz, groups] = await Promise.all([api("/api/v1/hazards?status=open,assigned,rectified"), api("/api/v1/inspection-groups")]);
    this.items = hz.ok ? hz.data : [];
    this.groups = groups.ok ? groups.data : [];
  }
  render() {
    const sev = { critical: 0, high: 1, medium: 2, low: 3 };
    const items = (this.items || []).slice().sort((a, b) => (sev[a.severity] - sev[b.severity]) || (b.overdue - a.overdue) || a.id - b.id);
    this.show(h("h3", null, `${t("hazards")}: ${fmtNum(items.length)}`),
      items.length ? h("div", { class: "rows" }, items.map((x) => this.row(x))) : empty(t("none_waiting")));
  }
  row(x) {
    const result = resultEl();
    const who = select("assignee", [opt("", t("choose_team")),
      ...crews().filter((c) => ["standby", "deployed"].includes(c.status)).map((c) => opt(`crew:${c.id}`, `${t("crew")}: ${c.name}`, x.assigned_crew_id === c.id)),
      ...(this.groups || []).map((g) => opt(`group:${g.id}`, `${t("lg_group")}: ${g.name}`, x.assigned_group_id === g.id))], { "aria-label": t("choose_team") });
    const note = h("input", { name: "note", maxlength: 500, placeholder: t("note"), "aria-label": t("note") });
    const assign = h("button", { type: "button", "data-testid": "hazard-assign" }, x.status === "rectified" ? t("send_back") : t("assign"));
    action(assign, { echo: this.status, result, danger: false,
      confirm: () => (who.value ? "" : (show(result, "bad", t("choose_team")), false)),
      run: (key) => { const [kind, id] = who.value.split(":"); return api(`/api/v1/hazards/${x.id}/assign`, { method: "POST", key, body: { [`${kind}_id`]: Number(id), note: note.value.trim() || null } }); },
      success: () => t("k_assigned"), reset: () => { note.value = ""; this.changed(); } });
    const buttons = [who, note, assign];
    if (x.status !== "rectified") {
      const rectify = h("button", { type: "button", "data-testid": "hazard-rectify" }, t("mark_rectified"));
      action(rectify, { echo: this.status, result, confirm: () => t("confirm_rectified", { id: x.id }),
        run: (key) => api(`/api/v1/hazards/${x.id}/rectify`, { method: "POST", key, body: { note: note.value.trim() || null } }),
        success: () => t("k_rectified"), reset: () => { note.value = ""; this.changed(); } });
      buttons.push(rectify);
    } else {
      const verify = h("button", { type: "button", class: "primary", "data-testid": "hazard-verify" }, t("verify"));
      action(verify, { echo: this.status, result, confirm: () => t("confirm_verify", { id: x.id }),
        run: (key) => api(`/api/v1/hazards/${x.id}/verify`, { method: "POST", key, body: { note: note.value.trim() || null } }),
        success: () => t("k_verified"), reset: () => { note.value = ""; this.changed(); } });
      buttons.push(verify);
    }
    const where = [x.place, x.zone_id && this.ctx.zoneName(x.zone_id)].filter(Boolean).join(" · ");
    return h("div", { class: `row sev-${x.severity}${x.overdue ? " overdue" : ""}`, "data-hazard": x.id },
      h("div", { class: "row-main" }, h("b", null, `#${x.id} ${word(x.kind)}`), " ",
        h("span", { class: `chip sev-${x.severity}` }, t(`sv_${x.severity}`)), " ",
        h("span", { class: "chip" }, word(x.status)), " ", where ? `· ${where} ` : "",
        x.overdue ? h("span", { class: "bad" }, ` ${t("overdue")}`) : h("span", { class: "muted" }, x.due_at ? ` ${t("due")} ${fmtTime(x.due_at, true)}` : ""),
        x.description ? h("div", { class: "muted" }, x.description) : null),
      h("div", { class: "row-actions buttons" }, buttons, result));
  }
}

// --- evacuation orders --------------------------------------------------------------------------
class EvacuationScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "evacuation", title: "evac_orders", need: ["manage_field"], events: ["evacuation.updated", "shelter.updated"] }); }
  // The situation holds reality only: a drill's orders come from the API, so that a drill
  // order issued here can be seen and lifted here too.
  async load() {
    const r = await api("/api/v1/evacuation/orders?active=true&exercise=true");
    this.drillOrders = r.ok ? r.data.filter((o) => o.exercise && o.status === "active") : (this.drillOrders || []);
  }
  render() {
    const ev = (state.situation && state.situation.evacuation) || {};
    const orders = [...(ev.orders || []), ...(this.drillOrders || [])];
    this.form ||= this.makeForm();
    this.show(h("h3", null, t("issue_order")), this.form,
      h("h3", null, `${t("evac_orders")}: ${fmtNum(orders.length)}`),
      orders.length ? h("div", { class: "rows" }, orders.map((o) => this.orderRow(o))) : empty(t("none_waiting")));
  }
  makeForm() {
    // One action: the order and its broadcast (the template evacuation_order, to the zone and
    // the shelter chosen, or the nearest open one), which a second person approves if large.
    const zones = this.ctx.zones.filter((f) => f.geometry.type !== "Point" && f.properties.kind !== "shelter_catchment");
    const form = h("form", { class: "grid-form", "data-form": "evacuation" });
    const zone = select("zone_id", [opt("", t("choose_zone")), ...zones.map((f) => opt(f.properties.id, pick(f.properties.name, f.properties.id)))], { required: true });
    const level = select("level", [opt("mandatory", t("mandatory")), opt("advised", t("advised"))]);
    const shelter = select("shelter_id", [opt("", t("nearest_shelter")), ...shelters().map((x) => opt(x.id, pick(x.name, x.id)))]);
    const drill = h("input", { type: "checkbox", name: "exercise" });
    const note = h("input", { name: "note", maxlength: 500 });
    const btn = h("button", { type: "submit", class: "danger", "data-testid": "issue-order" }, t("issue_order"));
    const result = resultEl();
    form.append(field(t("zones"), zone), field(t("level"), level), field(t("shelters"), shelter), field(t("note"), note),
      h("label", { class: "check ex" }, drill, ` ${t("exercise")}`), h("div", { class: "buttons" }, btn), result);
    action(btn, { echo: this.status, result,
      confirm: () => (zone.value
        ? `${drill.checked ? t("drill_says") : t("real_says")} — ${t("confirm_order", { z: this.ctx.zoneName(zone.value), l: t(level.value) })}`
        : (show(result, "bad", t("choose_zone")), false)),
      run: (key) => api("/api/v1/evacuation/orders", { method: "POST", key, body: {
        zone_id: zone.value, level: level.value, note: note.value.trim() || null,
        shelter_ids: shelter.value ? [shelter.value] : [], exercise: drill.checked } }),
      success: (d) => this.orderResult(d, zone.value, "order_issued"),
      reset: () => { form.reset(); this.changed(); } });
    return form;
  }
  orderResult(d, zoneId, what) {
    const base = d && d.changed === false ? t("no_change") : t(what, { z: this.ctx.zoneName(zoneId) });
    const b = d && d.broadcast;
    if (!b || !b.id) return base;
    const wait = b.needs_approval ? ` — ${t("needs_approval", { n: fmtNum(this.ctx.boot.approval_threshold) })}` : "";
    return `${base} · ${t("broadcast_n", { id: b.id })} (${t("st_" + b.status)}, ${fmtNum(b.recipients)} ${t("recipients")})${wait}`;
  }
  orderRow(o) {
    const result = resultEl();
    const lift = h("button", { type: "button", "data-testid": "lift-order" }, t("lift_order"));
    action(lift, { echo: this.status, result, confirm: () => `${o.exercise ? t("drill_says") : t("real_says")} — ${t("confirm_lift", { z: this.ctx.zoneName(o.zone_id) })}`,
      run: (key) => api("/api/v1/evacuation/orders/lift", { method: "POST", key, body: { zone_id: o.zone_id, exercise: Boolean(o.exercise) } }),
      success: (d) => this.orderResult(d, o.zone_id, "order_lifted_z"), reset: () => this.changed() });
    return h("div", { class: `row order ${o.level}`, "data-order": o.zone_id, "data-exercise": String(Boolean(o.exercise)) },
      h("div", { class: "row-main" }, o.exercise ? h("span", { class: "chip ex" }, t("exercise")) : null, " ", h("b", null, this.ctx.zoneName(o.zone_id)), ` — ${t(o.level)} · ${fmtTime(o.issued_at, true)} · ${t("by", { n: o.issued_by })}`,
        o.broadcast_id ? h("span", { class: "muted" }, ` · ${t("broadcast_n", { id: o.broadcast_id })}`) : null),
      h("div", { class: "row-actions buttons" }, lift, result));
  }
}

// --- shelters ------------------------------------------------------------------------------------
class ShelterScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "shelters", title: "shelters", need: ["manage_field"], events: ["shelter.updated"] }); }
  render() {
    const list = shelters();
    this.show(h("h3", null, t("shelters")), list.length ? h("div", { class: "rows" }, list.map((s) => this.row(s))) : empty("—"));
  }
  row(s) {
    const result = resultEl();
    const toggle = h("button", { type: "button", class: s.is_open ? "" : "primary", "data-testid": "shelter-toggle" }, s.is_open ? t("close_shelter") : t("open_shelter"));
    action(toggle, { echo: this.status, result, danger: s.is_open,
      confirm: () => (s.is_open ? t("confirm_close_shelter", { s: pick(s.name, s.id) }) : ""),
      run: (key) => api(`/api/v1/shelters/${s.id}/open`, { method: "POST", key, body: { open: !s.is_open } }),
      success: (d) => (d.is_open ? t("open") : t("closed")) });
    const occ = h("input", { type: "number", min: 0, max: 100000, value: s.occupancy, name: "occupancy", "aria-label": t("occupancy") });
    const set = h("button", { type: "button", "data-testid": "shelter-occupancy" }, t("set_occupancy"));
    action(set, { echo: this.status, result, danger: false,
      confirm: () => {
        const n = Number(occ.value);
        if (occ.value === "" || !Number.isInteger(n) || n < 0) { show(result, "bad", t("bad_occupancy")); return false; }
        return s.capacity && n > s.capacity ? t("confirm_over_capacity", { s: pick(s.name, s.id), n: fmtNum(n), c: fmtNum(s.capacity) }) : "";
      },
      run: (key) => api(`/api/v1/shelters/${s.id}/occupancy`, { method: "PUT", key, body: { occupancy: Number(occ.value) } }),
      success: (d) => `${fmtNum(d.occupancy)}/${fmtNum(d.capacity)}` });
    const ratio = s.capacity ? Math.min(1, s.occupancy / s.capacity) : 0;
    return h("div", { class: `row${s.is_open ? "" : " closed"}`, "data-shelter": s.id },
      h("div", { class: "row-main" }, h("b", null, pick(s.name, s.id)), " ",
        h("span", { class: `chip ${s.is_open ? "ok" : ""}` }, s.is_open ? t("open") : t("closed")), " ",
        h("span", { class: "bar inline" }, h("span", { class: ratio >= 1 ? "full" : ratio >= 0.8 ? "busy" : "", style: { width: `${100 * ratio}%` } })),
        ` ${fmtNum(s.occupancy)}/${fmtNum(s.capacity)}`),
      h("div", { class: "row-actions buttons" }, toggle, occ, set, result));
  }
}

// --- crews --------------------------------------------------------------------------------------------
class CrewScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "crews", title: "crews", need: ["manage_field"], events: ["crew.updated"] }); }
  render() {
    const list = crews();
    const result = resultEl();
    const all = h("button", { type: "button", "data-testid": "all-standby" }, t("all_standby"));
    action(all, { echo: this.status, result, confirm: () => t("confirm_all_standby"), danger: false,
      run: (key) => api("/api/v1/crews/standby", { method: "POST", key }),
      success: (d) => t("n_changed", { n: fmtNum((d.changed || []).length) }) });
    this.show(h("div", { class: "buttons" }, all, result),
      list.length ? h("div", { class: "rows" }, list.map((c) => this.row(c))) : empty("—"));
  }
  row(c) {
    const result = resultEl();
    const status = select("status", ["standby", "deployed", "resting", "released"].map((s) => opt(s, t("cs_" + s), s === c.status)), { "aria-label": t("status") });
    const set = h("button", { type: "button", "data-testid": "crew-status" }, t("set_status"));
    action(set, { echo: this.status, result, danger: false,
      confirm: () => (status.value === c.status ? (show(result, "bad", t("no_change")), false) : status.value === "released" ? t("confirm_release", { n: c.name }) : ""),
      run: (key) => api(`/api/v1/crews/${c.id}/status`, { method: "POST", key, body: { status: status.value } }),
      success: (d) => t("cs_" + d.status) });
    const task = h("input", { name: "task", maxlength: 500, placeholder: t("task"), "aria-label": t("task") });
    const add = h("button", { type: "button", "data-testid": "crew-task" }, t("add_task"));
    action(add, { echo: this.status, result, danger: false,
      confirm: () => (task.value.trim() ? "" : false),
      run: (key) => api(`/api/v1/crews/${c.id}/tasks`, { method: "POST", key, body: { description: task.value.trim() } }),
      success: () => t("task_added"), reset: () => { task.value = ""; } });
    const tasks = (c.open_tasks || []).map((tk) => {
      const done = h("button", { type: "button", class: "small" }, t("done"));
      action(done, { echo: this.status, result, confirm: () => t("confirm_task_done"), danger: false,
        run: (key) => api(`/api/v1/crews/tasks/${tk.id}/done`, { method: "POST", key }), success: () => t("done_ok") });
      return h("li", null, tk.description, done);
    });
    return h("div", { class: `row cs-${c.status}`, "data-crew": c.id },
      h("div", { class: "row-main" }, h("b", null, c.name), " ", h("span", { class: `chip cs-${c.status}` }, t("cs_" + c.status)),
        ` ${fmtNum(c.headcount)} ${t("people")}${c.unit ? " · " + c.unit : ""}`,
        tasks.length ? h("ul", { class: "compact" }, tasks) : null),
      h("div", { class: "row-actions buttons" }, status, set, task, add, result));
  }
}

// --- facilities: a person's override, with the reason --------------------------------------------
class FacilityScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "facilities", title: "facilities", need: ["manage_field"], events: ["facility.changed"] }); }
  render() {
    const items = (state.situation && state.situation.facilities && state.situation.facilities.items) || [];
    this.show(h("p", { class: "muted" }, t("override_hint")),
      items.length ? h("div", { class: "rows" }, items.map((f) => this.row(f))) : empty("—"));
  }
  row(f) {
    const result = resultEl();
    const options = (f.statuses || []).map((s) => opt(s.id, pick(s.name, s.id), s.id === f.status));
    const status = select("status", options.length ? options : [opt(f.status, pick(f.status_name, f.status), true)], { "aria-label": t("status") });
    const reason = h("input", { name: "reason", maxlength: 500, required: true, placeholder: t("reason"), "aria-label": t("reason") });
    const btn = h("button", { type: "button", class: "danger", "data-testid": "facility-override" }, t("override"));
    action(btn, { echo: this.status, result,
      confirm: () => {
        if (status.value === f.status) { show(result, "bad", t("no_change")); return false; }
        if (!reason.value.trim()) { show(result, "bad", t("need_reason")); reason.focus(); return false; }
        return t("confirm_override", { f: pick(f.name, f.id), s: status.selectedOptions[0].textContent });
      },
      run: (key) => api(`/api/v1/facilities/${f.id}/status`, { method: "POST", key, body: { status: status.value, note: reason.value.trim() } }),
      success: (d) => pick(d.facility.status_name, d.facility.status), reset: () => { reason.value = ""; } });
    return h("div", { class: `row lvl-${f.level}`, "data-facility": f.id },
      h("div", { class: "row-main" }, h("b", null, pick(f.name, f.id)), " ", h("span", { class: `chip lvl-${f.level}` }, pick(f.status_name, f.status)),
        f.changed_by ? h("span", { class: "muted" }, ` · ${fmtTime(f.changed_at, true)} · ${f.changed_by}`) : null),
      h("div", { class: "row-actions buttons" }, status, reason, btn, result));
  }
}

// --- field links: a team's phone link with its QR code; revoke a lost one ----------------------------
class FieldLinkScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "links", title: "field_links", need: ["manage_field"], events: [] }); }
  async load() {
    const [links, groups] = await Promise.all([api("/api/v1/field/links"), api("/api/v1/inspection-groups")]);
    this.links = links.ok ? links.data : [];
    this.groups = groups.ok ? groups.data : [];
  }
  render() {
    this.form ||= this.makeForm();  // kept across redraws: the QR code just made stays on screen
    const rows = (this.links || []).map((l) => {
      const r = resultEl();
      const revoke = h("button", { type: "button", class: "danger", "data-testid": "revoke-link", disabled: !l.active || null }, t("revoke"));
      action(revoke, { echo: this.status, result: r, confirm: () => t("confirm_revoke", { l: l.label }),
        run: (key) => api(`/api/v1/field/links/${l.user_id}/revoke`, { method: "POST", key }),
        success: () => t("revoked"), reset: () => this.changed() });
      return h("div", { class: `row${l.active ? "" : " closed"}`, "data-link": l.user_id },
        h("div", { class: "row-main" }, h("b", null, l.label), ` · ${fmtTime(l.created_at, true)}`, l.active ? "" : ` · ${t("revoked")}`),
        h("div", { class: "row-actions buttons" }, revoke, r));
    });
    this.show(h("h3", null, t("make_link")), this.form, h("h3", null, t("field_links")), rows.length ? h("div", { class: "rows" }, rows) : empty("—"));
  }
  makeForm() {
    const form = h("form", { class: "grid-form", "data-form": "link" });
    const label = h("input", { name: "label", required: true, maxlength: 60 });
    const team = select("team", [opt("", "—"), ...(this.groups || []).map((g) => opt(`group:${g.id}`, `${t("lg_group")}: ${g.name}`)),
      ...crews().map((c) => opt(`crew:${c.id}`, `${t("crew")}: ${c.name}`))]);
    const btn = h("button", { type: "submit", class: "primary", "data-testid": "make-link" }, t("make_link"));
    const result = resultEl();
    const out = h("div", { class: "link-out" });
    form.append(field(t("label"), label), field(t("team"), team), h("div", { class: "buttons" }, btn), result, out);
    action(btn, { echo: this.status, result, danger: false,
      confirm: () => (form.reportValidity() ? "" : false),
      run: (key) => {
        const body = { label: label.value.trim() };
        if (team.value) { const [kind, id] = team.value.split(":"); body[`${kind}_id`] = Number(id); }
        return api("/api/v1/field/links", { method: "POST", key, body });
      },
      success: (d) => {
        out.replaceChildren(h("img", { src: d.qr_png, alt: t("qr_alt", { l: label.value }), width: 220, height: 220, "data-testid": "qr" }),
          h("p", null, h("code", { "data-testid": "link-url" }, d.url)), h("p", { class: "muted" }, t("link_once")));
        return t("link_made");
      },
      reset: () => { form.reset(); this.changed(); } });
    return form;
  }
}

// --- vulnerable residents (names: operators only; the server checks again) -------------------------
class VulnerableScreen extends Screen {
  constructor(ctx) { super(ctx, { id: "vulnerable", title: "vulnerable", need: ["see_vulnerable"], events: ["vulnerable.updated"] }); }
  async load() { const r = await api("/api/v1/vulnerable/residents"); this.items = r.ok ? r.data : []; this.error = r.ok ? null : r.message; }
  render() {
    if (this.error) { this.show(h("p", { class: "bad" }, this.error)); return; }
    const order = { needs_help: 0, not_reached: 1, unknown: 2, reached: 3 };
    const items = (this.items || []).slice().sort((a, b) => order[a.state] - order[b.state]);
    this.show(h("p", { class: "muted" }, t("vulnerable_private")),
      items.length ? h("div", { class: "rows" }, items.map((x) => this.row(x))) : empty("—"));
  }
  row(x) {
    const result = resultEl();
    // no outcome chosen in advance: one stray click must never record a resident as reached
    const st = select("state", [opt("", t("choose_found"), !["reached", "not_reached", "needs_help"].includes(x.state)),
      ...["reached", "not_reached", "needs_help"].map((s) => opt(s, t("vs_" + s), s === x.state))], { "aria-label": t("status") });
    const note = h("input", { name: "note", maxlength: 500, placeholder: t("note"), "aria-label": t("note") });
    const btn = h("button", { type: "button", "data-testid": "resident-check" }, t("record_check"));
    action(btn, { echo: this.status, result, danger: false,
      confirm: () => (st.value ? "" : (show(result, "bad", t("choose_found")), false)),
      run: (key) => api(`/api/v1/vulnerable/residents/${x.id}/check`, { method: "POST", key, body: { state: st.value, note: note.value.trim() || null } }),
      success: (d) => t("vs_" + d.state), reset: () => { note.value = ""; } });
    return h("div", { class: `row vs-${x.state}`, "data-resident": x.id },
      h("div", { class: "row-main" }, h("b", null, x.name), ` · ${x.address}`, x.needs ? h("span", { class: "muted" }, ` · ${x.needs}`) : null, " ",
        h("span", { class: `chip vs-${x.state}` }, t("vs_" + x.state))),
      h("div", { class: "row-actions buttons" }, st, note, btn, result));
  }
}

// --- the tabs ----------------------------------------------------------------------------------------
export class Work {
  constructor(ctx, extra) {
    this.ctx = ctx;
    // compose and the signal form live in their own panels; they are tabs here too
    this.screens = [
      ...extra,
      new LiaisonScreen(ctx), new HazardScreen(ctx), new EvacuationScreen(ctx), new ShelterScreen(ctx),
      new CrewScreen(ctx), new FacilityScreen(ctx), new FieldLinkScreen(ctx), new VulnerableScreen(ctx),
    ].filter((s) => s.allowed());
    this.current = null;
  }
  mount() {
    const panel = $("#work");
    panel.hidden = !this.screens.length;
    if (!this.screens.length) return;
    this.tabs = h("div", { class: "tabs", role: "tablist", "aria-label": t("work") });
    this.body = h("div", { class: "tab-body" });
    panel.querySelector(".body").replaceChildren(this.tabs, this.body);
    this.renderTabs();
    const saved = sessionStorage.getItem("typhoon.tab");
    this.open(this.screens.some((s) => s.id === saved) ? saved : this.screens[0].id);
  }
  renderTabs() {
    this.tabs.replaceChildren(...this.screens.map((s) => h("button", {
      type: "button", role: "tab", id: `tab-${s.id}`, "data-tab": s.id, "aria-selected": String(s === this.current),
      "aria-controls": `screen-${s.id}`, onclick: () => this.open(s.id),
    }, t(s.title))));
  }
  async open(id) {
    const s = this.screens.find((x) => x.id === id);
    if (!s) return;
    this.current = s;
    sessionStorage.setItem("typhoon.tab", id);
    this.renderTabs();
    s.box.setAttribute("aria-labelledby", `tab-${s.id}`);
    this.body.replaceChildren(s.box);
    if (!s.loaded) { s.loaded = true; await s.load(); }
    s.render();
  }
  /** An event came: the screen showing, if its data changed, reloads (others on opening). */
  event(type) {
    const s = this.current;
    if (!s) return;
    if (s.events.some((e) => type.startsWith(e))) s.changed();
    else for (const other of this.screens) if (other !== s && other.events.some((e) => type.startsWith(e))) other.loaded = false;
  }
  relabel() { if (this.tabs) { this.renderTabs(); if (this.current) this.current.render(); } }
}

export { Screen, LANGS, LANG_LABEL, listOf };
