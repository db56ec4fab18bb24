// Alarms: a request for help or a critical hazard. A banner with role="alert" on every desk
// and wall screen naming what and where, the count in the page's title, a sound once the
// person has allowed it, and (desk, operators) acknowledge, assign a crew, close.
import { h, $ } from "./dom.js";
import { t, word, fmtTime, fmtDuration, fmtNum } from "./i18n.js";
import { api } from "./api.js";
import { state, touch, putAlarm } from "./store.js";
import { action } from "./act.js";

const SOUND_KEY = "typhoon.sound";
let baseTitle = document.title;

const order = (a, b) => (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1) || b.id - a.id;

export function alarmList() { return [...state.alarms.values()].sort(order); }

export function alarmWhat(a) {
  const what = a.kind === "help" ? t("alarm_help") : `${t("alarm_hazard")}: ${word(a.kind)}`;
  return a.people ? `${what} · ${t("n_people", { n: fmtNum(a.people) })}` : what;
}

export function alarmWhere(a, ctx) {
  const parts = [];
  if (a.place) parts.push(a.place);
  if (a.zone_id) parts.push(ctx.zoneName(a.zone_id));
  if (!parts.length && a.lat != null) parts.push(`${a.lat.toFixed(4)}, ${a.lon.toFixed(4)}`);
  return parts.join(" · ") || t("unknown_place");
}

function statusText(a) {
  if (a.status === "open") return a.escalated_at ? `${t("al_open")} · ${t("al_escalated")}` : t("al_open");
  if (a.status === "acknowledged") return t("al_acked_by", { n: a.acknowledged_by, t: fmtTime(a.acknowledged_at) });
  if (a.status === "assigned") return t("al_assigned_to", { n: a.crew_name || `#${a.crew_id}` });
  return t("al_closed");
}

export class AlarmDesk {
  constructor(ctx) {
    this.ctx = ctx;
    this.audio = null;
    this.played = 0;  // for the browser tests: how many times the alarm sounded
    this.wantSound = localStorage.getItem(SOUND_KEY) === "on";
    this.remind = setInterval(() => this.beepIfWaiting(), 30_000);
    this.showDrill = false;  // a drill's alarms: one line on the desk until opened
    // What a person chose or typed on an alarm (crew, outcome) by alarm id: every live update
    // rebuilds the list, which must not wipe a half-done action.
    this.drafts = new Map();
    const btn = $("#sound");
    btn.onclick = () => this.toggleSound();
    // A browser lets a page make sound only after the person did something on it.
    const unlock = () => { if (this.wantSound) this.ensureAudio(); };
    document.addEventListener("pointerdown", unlock, { once: true });
    document.addEventListener("keydown", unlock, { once: true });
    this.renderSoundButton();
  }

  toggleSound() {
    this.wantSound = !this.wantSound;
    localStorage.setItem(SOUND_KEY, this.wantSound ? "on" : "off");
    if (this.wantSound) { this.ensureAudio(); this.beep(1); }
    this.renderSoundButton();
  }

  renderSoundButton() {
    const btn = $("#sound");
    btn.textContent = this.wantSound ? `♪ ${t("sound_on")}` : t("sound_off");
    btn.setAttribute("aria-pressed", String(this.wantSound));
  }

  ensureAudio() {
    try {
      this.audio ||= new AudioContext();
      if (this.audio.state === "suspended") this.audio.resume();
    } catch { this.audio = null; }
  }

  /** Three short high tones (the count for the tests even when the browser is silent). */
  beep(times = 3) {
    if (!this.wantSound) return;
    this.played += 1;
    this.ensureAudio();
    const ctx = this.audio;
    if (!ctx) return;
    for (let i = 0; i < times; i++) {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = i % 2 ? 660 : 880;
      gain.gain.value = 0.25;
      osc.connect(gain).connect(ctx.destination);
      const at = ctx.currentTime + i * 0.35;
      osc.start(at);
      osc.stop(at + 0.25);
    }
  }

  beepIfWaiting() {
    if ([...state.alarms.values()].some((a) => a.status === "open")) this.beep();  // real ones only
  }

  /** A new alarm arrived live (not one already in the snapshot). */
  raised() { this.beep(); }

  render() {
    const real = alarmList();
    const wall = document.body.classList.contains("wall");
    // A drill's alarms: on the desk, after the real ones and marked EXERCISE (to practise on);
    // on the wall, only counted in the drill's one line.
    const drill = wall ? [] : [...state.drillAlarms.values()].sort(order);
    const list = [...real, ...drill];
    const box = $("#alarms");
    // On the desk a drill's alarms sit in one line under the real ones until someone opens
    // them: a replay loop's piled-up drill alarms must not push a real one off the screen.
    const drillRows = this.showDrill ? drill.map((a) => this.row(a, wall)) : [];
    const waiting = real.filter((a) => a.status === "open").length;
    document.title = real.length ? `(${real.length}) ⚠ ${baseTitle}` : baseTitle;
    box.hidden = !list.length;
    box.classList.toggle("waiting", waiting > 0);
    box.classList.toggle("drill-only", !real.length);
    if (!list.length) { box.replaceChildren(); return; }
    const shown = wall ? list.slice(0, 2) : real;
    const rows = shown.map((a) => this.row(a, wall));
    if (wall && shown.length < list.length) rows.push(h("p", { class: "more" }, t("n_more_alarms", { n: list.length - shown.length })));
    if (drill.length) {
      const open = drill.filter((a) => a.status === "open").length;
      const toggle = h("button", { type: "button", class: "small", "aria-expanded": String(Boolean(this.showDrill)), "data-testid": "drill-alarms-toggle",
        onclick: () => { this.showDrill = !this.showDrill; this.render(); } }, this.showDrill ? t("hide") : t("show"));
      rows.push(h("p", { class: "alarm ex drill-summary" }, h("span", { class: "chip ex" }, t("exercise")), " ",
        t("n_drill_alarms", { n: fmtNum(drill.length), o: fmtNum(open) }), " ", toggle), ...drillRows);
    }
    // the control a person is using keeps the focus through the rebuild
    const active = box.contains(document.activeElement) ? document.activeElement : null;
    const focus = active && active.dataset.testid && active.closest("[data-alarm]")
      ? `[data-alarm="${active.closest("[data-alarm]").dataset.alarm}"] [data-testid="${active.dataset.testid}"]` : null;
    box.replaceChildren(h("h2", { class: "alarm-title" }, `⚠ ${t("alarms")}: ${fmtNum(real.length)}`,
      drill.length ? h("span", { class: "drill-count" }, ` · ${t("exercise")}: ${fmtNum(drill.length)}`) : null,
      waiting ? h("span", { class: "waiting-count" }, ` · ${t("al_waiting", { n: fmtNum(waiting) })}`) : null), ...rows);
    const again = focus && box.querySelector(focus);
    if (again) again.focus();
  }

  row(a, wall) {
    const ctx = this.ctx;
    const ago = (Date.now() - Date.parse(a.raised_at)) / 1000;
    const head = h("div", { class: "alarm-head" },
      h("span", { class: `alarm-icon ${a.kind === "help" ? "help" : "hazard"}`, "aria-hidden": "true" }, a.kind === "help" ? "SOS" : "⚠"),
      a.exercise ? h("span", { class: "chip ex" }, t("exercise")) : null,
      h("strong", { class: "alarm-what" }, alarmWhat(a)),
      // how urgent the team said it is (a hazard's alarm is critical by definition)
      a.kind === "help" && a.severity ? h("span", { class: `chip sev-${a.severity}`, "data-testid": "alarm-urgency" }, t(`sv_${a.severity}`)) : null,
      h("span", { class: "alarm-where" }, alarmWhere(a, ctx)),
      h("span", { class: "alarm-when" }, `${fmtTime(a.raised_at)} · ${t("ago", { d: fmtDuration(ago) })}`),
      h("span", { class: `chip al-${a.status}` }, statusText(a)));
    const note = a.note ? h("p", { class: "alarm-note" }, `“${a.note}”`) : null;
    const row = h("div", { class: `alarm al-${a.status}${a.exercise ? " ex" : ""}`, "data-alarm": a.id }, head, note);
    if (!wall && ctx.can.manage_field) row.append(this.actions(a));
    return row;
  }

  actions(a) {
    const result = h("span", { class: "result", role: "status" });
    const url = `/api/v1/alarms/${a.id}`;
    const done = (data) => { if (data && data.id) { putAlarm(data); touch("alarms", "map"); } };
    const ack = h("button", { type: "button", class: "primary", "data-testid": "alarm-ack" }, t("acknowledge"));
    ack.hidden = a.status !== "open";
    action(ack, { result, run: (key) => api(`${url}/ack`, { method: "POST", key }), success: (d) => { done(d); return t("acked"); } });
    const crews = ((state.situation && state.situation.crews && state.situation.crews.items) || [])
      .filter((c) => c.status === "standby" || c.status === "deployed");
    const draft = this.drafts.get(a.id) || {};
    const crewSel = h("select", { "aria-label": t("crew"), "data-testid": "alarm-crew" },
      h("option", { value: "" }, crews.length ? t("choose_crew") : t("no_crew_ready")),
      crews.map((c) => h("option", { value: c.id, selected: c.id === a.crew_id || null }, `${c.name} · ${t("cs_" + c.status)} · ${fmtNum(c.headcount)}`)));
    if (draft.crew && crews.some((c) => String(c.id) === draft.crew)) crewSel.value = draft.crew;
    crewSel.addEventListener("change", () => this.drafts.set(a.id, { ...this.drafts.get(a.id), crew: crewSel.value }));
    const assign = h("button", { type: "button", "data-testid": "alarm-assign" }, t("assign_crew"));
    action(assign, {
      result,
      confirm: () => (crewSel.value ? "" : (result.textContent = crews.length ? t("choose_crew") : t("no_crew_ready"), false)),
      run: (key) => api(`${url}/assign`, { method: "POST", key, body: { crew_id: Number(crewSel.value) } }),
      success: (d) => { this.drafts.set(a.id, { ...this.drafts.get(a.id), crew: "" }); done(d); return t("al_assigned_to", { n: d.crew_name }); },
    });
    const note = h("input", { type: "text", maxlength: 500, placeholder: t("close_note"), "aria-label": t("close_note"), "data-testid": "alarm-note" });
    note.value = draft.note || "";
    note.addEventListener("input", () => this.drafts.set(a.id, { ...this.drafts.get(a.id), note: note.value }));
    const close = h("button", { type: "button", class: "danger", "data-testid": "alarm-close" }, t("close_alarm"));
    action(close, {
      result,
      confirm: () => t("confirm_close_alarm", { id: a.id }),
      run: (key) => api(`${url}/close`, { method: "POST", key, body: { note: note.value.trim() || null } }),
      success: (d) => { this.drafts.delete(a.id); done(d); return t("al_closed"); },
      reset: () => { note.value = ""; this.drafts.delete(a.id); },
    });
    return h("div", { class: "buttons alarm-actions" }, ack, crewSel, assign, note, close, result);
  }
}

export function setBaseTitle(title) { baseTitle = title; }
