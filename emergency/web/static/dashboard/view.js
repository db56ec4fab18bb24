// Rendering of each dashboard section from `state`. Each renders "—" where its data is not
// there yet, so a domain that is not deployed leaves a quiet panel, not a broken page.
import { h, $ } from "./dom.js";
import { t, word, pick, fmtNum, fmtTime, fmtDuration, lang, LANGS, LANG_LABEL } from "./i18n.js";
import { state, levelInfo, listOf, messageTotals } from "./store.js";
import { rateChart } from "./chart.js";
import { editable } from "./actions.js";

const DASH = "—";
const GROUPS = [
  { id: "macau", title: "macau", kinds: [["SMG", "tropical_cyclone"], ["SMG", "rainstorm"], ["SMG", "storm_surge"]] },
  { id: "mainland", title: "mainland", kinds: [["ZHUHAI", "typhoon"], ["ZHUHAI", "rainstorm"]] },
  { id: "response", title: "response", kinds: [["HENGQIN", "response_level"]] },
];

/** Black or white, whichever reads better on `color` (WCAG contrast ratio). */
function textOn(color) {
  if (!color) return "#e2e8f0";
  const n = parseInt(color.slice(1), 16);
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = 0.2126 * lin((n >> 16) & 255) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? "#000000" : "#ffffff";
}

function kindInfo(source, kind) {
  const src = state.catalogue.find((s) => s.id === source);
  return (src && src.kinds.find((k) => k.id === kind)) || null;
}

// --- signals --------------------------------------------------------------------------
export function renderSignals() {
  const now = Date.now();
  for (const group of GROUPS) {
    const box = $(`#side-${group.id} .tiles`);
    if (!box) continue;
    const tiles = group.kinds.map(([source, kind]) => {
      const k = kindInfo(source, kind);
      const s = state.signals.get(`${source}:${kind}`);
      const info = s && levelInfo(source, kind, s.level);
      const color = info && info.color;
      const since = s && s.in_force_since;
      const secs = since ? (now - Date.parse(since)) / 1000 : null;
      return h("div", {
        class: `tile${s ? " on" : ""}`, "data-signal": `${source}:${kind}`, "data-level": s ? s.level : "",
        style: s ? { background: color || "#475569", color: textOn(color) } : null,
        title: info ? pick(info.meaning) : "",
      },
        h("div", { class: "tile-kind" }, k ? pick(k.names) : kind),
        levelText(s ? pick((info && info.short) || s.names) : (group.id === "response" ? t("no_response") : t("no_signal"))),
        h("div", { class: "tile-since" }, s ? `${t("since", { t: fmtTime(since, true) })} · ${t("for_dur", { d: fmtDuration(secs) })}` : " "),
      );
    });
    box.replaceChildren(...tiles);
  }
  renderDrill();
  renderFeeds();
  fitLevels();
}

/** A drill's levels (a storm replay, a joint exercise), apart from the real tiles. */
function renderDrill() {
  const box = $("#drill");
  if (!box) return;
  const items = [...state.drill.values()];
  box.hidden = !items.length;
  box.replaceChildren(
    h("strong", null, t("exercise").toUpperCase()),
    ...items.map((s) => {
      const info = levelInfo(s.source, s.kind, s.level);
      const k = kindInfo(s.source, s.kind);
      return h("span", { class: "drill-level", "data-signal": `${s.source}:${s.kind}` },
        `${k ? pick(k.names) : s.kind}: ${pick((info && info.short) || s.names, s.level)}`);
    }),
  );
}

/** Where the signals come from besides the operators: each feed and whether it answers. */
function renderFeeds() {
  const box = $("#feeds");
  const feeds = (state.situation && Array.isArray(state.situation.feeds)) ? state.situation.feeds : [];
  box.hidden = !feeds.length;
  box.replaceChildren(h("span", { class: "muted" }, `${t("feeds")}:`), ...feeds.map((f) =>
    h("span", { class: `feed fs-${f.status}`, "data-feed": f.id, title: f.last_error || f.url || "" },
      `${f.id} ${t("fs_" + f.status)}${f.last_ok_at_local ? " · " + fmtTime(f.last_ok_at_local) : ""}`)));
}

/** Shrink a level name until it fits its tile: "Sinal n.º 8 NE" must never lose its "8 NE". */
export function fitLevels() {
  // On the wall nothing goes under 24 px (read from 4 m): a name still too long wraps.
  const least = document.body.classList.contains("wall") ? 22 : 12;
  for (const el of document.querySelectorAll("#signals .tile-level")) {
    el.style.fontSize = "";
    el.style.whiteSpace = "";
    let size = parseFloat(getComputedStyle(el).fontSize);
    while (el.scrollWidth > el.clientWidth + 1 && size > least) {
      size -= 1;
      el.style.fontSize = `${size}px`;
    }
    if (el.scrollWidth > el.clientWidth + 1) el.style.whiteSpace = "normal";
  }
}

/** Every second: only the "since … · for …" lines change. */
export function updateSince() {
  const now = Date.now();
  for (const el of document.querySelectorAll("#signals .tile.on")) {
    const s = state.signals.get(el.dataset.signal);
    if (!s || !s.in_force_since) continue;
    const secs = (now - Date.parse(s.in_force_since)) / 1000;
    el.querySelector(".tile-since").textContent = `${t("since", { t: fmtTime(s.in_force_since, true) })} · ${t("for_dur", { d: fmtDuration(secs) })}`;
  }
}

function levelText(text) {
  return h("div", { class: "tile-level" }, text);
}

// --- counters -------------------------------------------------------------------------
export function counterValues() {
  const sit = state.situation || {};
  const m = messageTotals();
  const insp = sit.field && sit.field.inspections;
  const hz = sit.field && sit.field.hazards;
  const crews = sit.crews;
  const standby = crews && crews.by_status && crews.by_status.standby;
  const vul = sit.vulnerable;
  const reached = vul && vul.by_state ? vul.by_state.reached : undefined;
  return [
    ["c_sent", m ? (m.sent || 0) + (m.delivered || 0) : null, "msg"],
    ["c_delivered", m ? m.delivered : null, "msg ok"],
    ["c_failed", m ? m.failed : null, "msg bad"],
    ["c_groups", insp && insp.groups, "field"],
    ["c_person_trips", insp && insp.person_trips, "field"],
    ["c_vehicle_trips", insp && insp.vehicle_trips, "field"],
    ["c_evacuated", sit.evacuation && sit.evacuation.people_evacuated, "evac"],
    ["c_crews", standby ? standby.crews : (crews && crews.on_duty_crews), "crew"],
    ["c_crew_people", standby ? standby.people : (crews && crews.on_duty_people), "crew"],
    ["c_vulnerable", reached === undefined ? null : reached, "vul", vul && vul.total],
    ["c_hazards", hz && hz.unresolved, "haz"],
    ["c_reports", sit.field && sit.field.reports_total, "field"],
  ];
}

// The figures the command post reports upward; the wall shows these only.
const WALL_FIGURES = ["c_sent", "c_delivered", "c_groups", "c_person_trips", "c_vehicle_trips", "c_evacuated", "c_crews", "c_crew_people"];

export function renderCounters() {
  const box = $("#counters .grid");
  const wall = document.body.classList.contains("wall");
  const values = counterValues().filter(([key]) => !wall || WALL_FIGURES.includes(key));
  box.replaceChildren(...values.map(([key, value, cls, of]) =>
    h("div", { class: `counter ${cls}`, "data-counter": key },
      h("div", { class: "value" }, value === null || value === undefined ? DASH : fmtNum(value),
        of ? h("small", null, ` / ${fmtNum(of)}`) : null),
      h("div", { class: "label", title: t(key) }, t(key)))));
}

// --- broadcasts -----------------------------------------------------------------------
const ACTIVE = ["sending", "scheduled", "awaiting_approval", "approved", "queued"];

export function sortedBroadcasts() {
  // in progress first, then the real ones: a replay's drill broadcasts (one every minute or
  // so) never push a real evacuation broadcast's result out of the list
  return [...state.broadcasts.values()].sort((a, b) =>
    (ACTIVE.includes(b.status) - ACTIVE.includes(a.status)) || (Number(Boolean(a.exercise)) - Number(Boolean(b.exercise)))
    || (Number(b.id) - Number(a.id)));
}

/** A broadcast's text in one line, without a drill's EXERCISE mark in front (its chip says
 * it): otherwise every drill row reads the same as far as the line shows. */
function snippet(b, ctx) {
  const msgs = b.messages || {};
  let text = msgs[lang()] || b.title || msgs["zh-Hant"] || msgs.en || Object.values(msgs)[0] || "";
  if (b.exercise) {
    const mark = Object.values(ctx.boot.exercise_marks || {}).find((m) => m && text.startsWith(m));
    if (mark) text = text.slice(mark.length).trim();
  }
  return text;
}

function progressBar(b) {
  const c = b.counts || {};
  const total = Math.max(b.recipients || 0, (c.queued || 0) + (c.sending || 0) + (c.sent || 0) + (c.delivered || 0) + (c.failed || 0) + (c.cancelled || 0), 1);
  const part = (n, cls) => h("span", { class: cls, style: { width: `${(100 * (n || 0)) / total}%` } });
  const done = (c.sent || 0) + (c.delivered || 0) + (c.failed || 0);
  return h("div", { class: "progress", role: "progressbar", "aria-label": t("broadcast_n", { id: b.id }), "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": done, "data-done": done, "data-total": total },
    part(c.delivered, "p-delivered"), part(c.sent, "p-sent"), part(c.failed, "p-failed"));
}

const PERSONAL = ["liaison", "alarm"];

/** Drill traffic in one line: broadcasts, liaison notices and alarms of the exercise. */
function renderDrillLine(wall) {
  const el = $("#drill-line");
  const active = (b) => ACTIVE.includes(b.status) || b.status === "completed";
  const b = [...state.broadcasts.values()].filter((x) => x.exercise && active(x)).length;
  const n = state.liaison.filter((x) => x.exercise && x.status !== "acknowledged").length;
  const a = state.drillAlarms.size;
  el.hidden = !wall || !(b || n || a);
  el.textContent = t("drill_line", { b: fmtNum(b), n: fmtNum(n), a: fmtNum(a) });
}

export function renderBroadcasts(ctx) {
  const wall = document.body.classList.contains("wall");
  renderDrillLine(wall);
  // On the wall, real broadcasts first and only: a drill never pushes a real one out of view.
  // (SMS to a few named people, liaison notices and alarm escalations, are not public warnings.)
  const list = sortedBroadcasts().filter((b) => !wall || !(b.exercise || PERSONAL.includes(b.origin))).slice(0, 6);
  const box = $("#broadcasts .list");
  if (!list.length) { box.replaceChildren(h("p", { class: "empty" }, state.situation && "broadcasts" in state.situation ? t("no_broadcasts") : DASH)); }
  else box.replaceChildren(...list.map((b) => {
    const c = b.counts || {};
    const done = (c.sent || 0) + (c.delivered || 0) + (c.failed || 0);
    const total = b.recipients || 0;
    const pct = total ? Math.floor((100 * done) / total) : 0;
    const cancellable = ctx.can.cancel_broadcast && ["awaiting_approval", "scheduled", "sending", "approved", "queued", "draft"].includes(b.status);
    return h("div", { class: `bc st-${b.status}`, "data-broadcast": b.id },
      h("div", { class: "bc-head" },
        h("b", null, `#${b.id}`), " ",
        h("span", { class: "chip" }, t(`st_${b.status}`)),
        b.exercise ? h("span", { class: "chip ex" }, t("exercise")) : null,
        priorityChip(b),
        h("span", { class: "bc-text" }, snippet(b, ctx)),
        h("span", { class: "pct" }, total ? `${pct}%` : "")),
      progressBar(b),
      h("div", { class: "bc-nums" },
        `${fmtNum(done)} / ${fmtNum(total)} ${t("recipients")}`,
        h("span", { class: "n-delivered" }, ` ✓ ${fmtNum(c.delivered || 0)}`),
        h("span", { class: "n-failed" }, ` ✗ ${fmtNum(c.failed || 0)}`),
        rateText(b),
        b.send_at && ["scheduled", "awaiting_approval"].includes(b.status) ? h("span", { "data-testid": "goes" }, ` · ${goesOut(b)}`) : null,
        !wall && editable(ctx, b) ? h("button", { class: "small", "data-action": "edit", "data-id": b.id }, t("edit")) : null,
        cancellable ? h("button", { class: "small danger", "data-action": "cancel", "data-id": b.id }, t("cancel")) : null));
  }));
  const current = list.find((b) => b.status === "sending") || list.find((b) => state.series.get(b.id));
  const svg = $("#rate-chart");
  const caption = $("#rate-caption");
  if (current && state.series.get(current.id)) {
    rateChart(svg, state.series.get(current.id));
    caption.textContent = `${t("rate_chart")} · #${current.id}`;
  } else {
    rateChart(svg, []);
    caption.textContent = t("rate_chart");
  }
}

/** When a broadcast not yet started goes out: what an approver approves, and when. */
function goesOut(b) {
  return b.send_at ? t("goes_at", { t: fmtTime(b.send_at, true) }) : t("goes_on_approval");
}

function langOrder(l) { const i = LANGS.indexOf(l); return i < 0 ? LANGS.length : i; }

/** The queue lane, said when it is not the usual one. */
function priorityChip(b) {
  return b.priority && b.priority !== "normal" ? h("span", { class: `chip pr-${b.priority}`, "data-priority": b.priority }, t(`pr_${b.priority}`)) : null;
}

function rateText(b) {
  const series = state.series.get(b.id);
  const last = series && series[series.length - 1];
  const rate = typeof b.rate === "number" ? b.rate : last && last.rate;
  const eta = b.eta_seconds ?? b.eta;
  const parts = [];
  if (b.status === "sending" && rate) parts.push(` · ${fmtNum(Math.round(rate))}/s`);
  if (b.status === "sending" && typeof eta === "number") parts.push(` · ${t("eta", { d: fmtDuration(eta) })}`);
  return parts.join("");
}

// --- approvals --------------------------------------------------------------------------
export function renderApprovals(ctx) {
  const box = $("#approvals .list");
  const waiting = [...state.broadcasts.values()].filter((b) => b.status === "awaiting_approval")
    .sort((a, b) => (a.exercise - b.exercise) || (a.id - b.id));  // real ones first
  renderApprovalNote(ctx, waiting);
  if (!waiting.length) { box.replaceChildren(h("p", { class: "empty" }, t("no_approvals"))); return; }
  // the button an approver is on keeps the focus through the rebuild (a broadcast's events
  // redraw this list several times a second while one is being sent)
  const active = box.contains(document.activeElement) ? document.activeElement : null;
  const card = active && active.dataset.action && active.closest("[data-approval]");
  const focus = card ? `[data-approval="${card.dataset.approval}"] [data-action="${active.dataset.action}"]` : null;
  box.replaceChildren(...waiting.map((b) => {
    const own = ctx.me && b.created_by === ctx.me.name;
    // in the screen's order of languages (the server's order was en, pt, then Chinese)
    const msgs = Object.entries(b.messages || {}).sort(([a], [c]) => langOrder(a) - langOrder(c));
    if (document.body.classList.contains("wall")) {  // one line each: what, to how many, since when, when it goes
      return h("div", { class: "approval one-line", "data-approval": b.id },
        h("b", null, `#${b.id}`), " ",
        b.exercise ? h("span", { class: "chip ex" }, t("exercise")) : h("span", { class: "chip live" }, t("live_chip")),
        h("span", { class: "n" }, ` ${fmtNum(b.recipients)} · ${fmtTime(b.created_at)} · `), h("span", { class: "n", "data-testid": "goes" }, goesOut(b)), " ",
        h("span", { class: "bc-text" }, snippet(b, ctx)));
    }
    return h("div", { class: "approval", "data-approval": b.id },
      h("div", { class: "bc-head" }, h("b", null, `#${b.id}`), " ",
        b.exercise ? h("span", { class: "chip ex" }, t("exercise")) : h("span", { class: "chip live" }, t("live_chip")),
        " ", priorityChip(b),
        ` ${fmtNum(b.recipients)} ${t("recipients")} · ${t("by", { n: b.created_by || "?" })} · ${fmtTime(b.created_at)} · `,
        h("b", { "data-testid": "goes" }, goesOut(b))),
      h("div", { class: "muted" }, `${t("zones")}: ${(b.zones || []).map((z) => ctx.zoneName(z)).join(", ") || DASH}${b.area ? " + ▱" : ""}`),
      h("dl", { class: "msgs" }, msgs.map(([l, text]) => [h("dt", null, LANG_LABEL[l] || l), h("dd", { lang: l }, text)])),
      own || !ctx.can.approve_broadcast
        ? h("p", { class: "muted" }, own ? t("own_draft") : "",
          editable(ctx, b) ? [" ", h("button", { class: "small", "data-action": "edit", "data-id": b.id }, t("edit"))] : null)
        : h("div", { class: "buttons" },
          h("button", { class: "primary", "data-action": "approve", "data-id": b.id }, t("approve")),
          ctx.can.cancel_broadcast ? h("button", { class: "danger", "data-action": "reject", "data-id": b.id }, t("reject")) : null));
  }));
  const again = focus && box.querySelector(focus);
  if (again) again.focus();
}

/** At the top of an approver's desk: broadcasts waiting for them (the queue itself is below
 * the map, out of sight at 1366×768), each with a button that takes them there. */
function renderApprovalNote(ctx, waiting) {
  const note = $("#approval-note");
  if (!note) return;
  const wall = document.body.classList.contains("wall");
  const mine = ctx.can.approve_broadcast && !wall
    ? waiting.filter((b) => !(ctx.me && b.created_by === ctx.me.name)) : [];
  note.hidden = !mine.length;
  if (!mine.length) { note.replaceChildren(); return; }
  const real = mine.filter((b) => !b.exercise);
  const first = real[0] || mine[0];
  note.classList.toggle("ex", !real.length);
  note.replaceChildren(
    h("strong", null, t("n_awaiting_you", { n: fmtNum(mine.length) })), " ",
    first.exercise ? h("span", { class: "chip ex" }, t("exercise")) : h("span", { class: "chip live" }, t("live_chip")),
    ` #${first.id} · ${fmtNum(first.recipients)} ${t("recipients")} · ${t("by", { n: first.created_by || "?" })} `,
    h("button", { type: "button", class: "primary small", "data-testid": "go-approvals", onclick: () => {
      const card = document.querySelector(`#approvals [data-approval="${first.id}"]`) || $("#approvals");
      card.scrollIntoView({ block: "center" });
      const btn = card.querySelector("[data-action=approve]");
      if (btn) btn.focus();
    } }, t("go_approve")));
}

// --- operator prompts (decisions the rules leave to a person) ----------------------------
export function renderPrompts(ctx) {
  const box = $("#prompts .list");
  // a real decision first: a drill's prompts (a replay loop makes many) never bury it
  const items = [...state.prompts.values()].sort((a, b) => (Number(Boolean(a.exercise)) - Number(Boolean(b.exercise))) || b.id - a.id);
  if (!items.length) { box.replaceChildren(h("p", { class: "empty" }, t("no_prompts"))); return; }
  box.replaceChildren(...items.map((p) => h("div", { class: "prompt", "data-prompt": p.id },
    h("p", null, h("span", { class: "muted" }, fmtTime(p.created_at)), " ",
      p.exercise ? h("span", { class: "chip ex" }, t("exercise")) : null, " ", pick(p.texts, p.kind)),
    ctx.can.manage_field ? h("div", { class: "buttons" },
      h("button", { class: "primary small", "data-action": "prompt-done", "data-id": p.id }, t("done")),
      h("button", { class: "small", "data-action": "prompt-dismiss", "data-id": p.id }, t("dismiss"))) : null)));
}

// --- facilities --------------------------------------------------------------------------
export function renderFacilities() {
  const items = (state.situation && state.situation.facilities && state.situation.facilities.items) || null;
  const box = $("#facilities .list");
  if (!items) { box.replaceChildren(h("p", { class: "empty" }, DASH)); return; }
  const rank = { bad: 0, warn: 1, ok: 2 };
  const shown = document.body.classList.contains("wall") ? items.slice().sort((a, b) => (rank[a.level] ?? 3) - (rank[b.level] ?? 3)) : items;
  box.replaceChildren(...shown.map((f) => h("div", { class: `fac-row lvl-${f.level}`, "data-facility": f.id, "data-status": f.status },
    h("span", { class: "fac-name" }, pick(f.name, f.id)),
    h("span", { class: "chip" }, pick(f.status_name, f.status)),
    h("span", { class: "muted when" }, f.changed_at ? fmtTime(f.changed_at) : ""))));
}

// --- field: shelters, evacuation, crews, hazards, vulnerable, reports --------------------
export function renderField(ctx) {
  const sit = state.situation || {};
  const ev = sit.evacuation;
  const shelters = (ev && ev.shelter_list) || [];
  const box = $("#field .list");
  const rows = [];
  if (ev) {
    const orders = ev.orders || [];
    rows.push(h("h3", null, `${t("evac_orders")}: ${fmtNum(orders.length)}`),
      orders.length ? h("ul", { class: "compact" }, orders.map((o) => h("li", { class: `order ${o.level}` }, `${ctx.zoneName(o.zone_id)} — ${t(o.level)} · ${fmtTime(o.issued_at)}`))) : null);
    const st = ev.shelters || {};
    rows.push(h("h3", null, `${t("shelters")}: ${fmtNum(st.open ?? 0)} ${t("open")} / ${fmtNum(st.shelters ?? shelters.length)}`));
    rows.push(h("div", { class: "shelters" }, shelters.map((s) => {
      const ratio = s.capacity ? Math.min(1, s.occupancy / s.capacity) : 0;
      return h("div", { class: `shelter-row${s.is_open ? "" : " closed"}`, "data-shelter": s.id },
        h("span", { class: "sh-name" }, pick(s.name, s.id)),
        h("span", { class: "bar" }, h("span", { class: ratio >= 1 ? "full" : ratio >= 0.8 ? "busy" : "", style: { width: `${100 * ratio}%` } })),
        h("span", { class: "sh-num" }, `${fmtNum(s.occupancy)}/${fmtNum(s.capacity)}`));
    })));
  } else rows.push(h("p", { class: "empty" }, `${t("shelters")}: ${DASH}`));
  const crews = sit.crews;
  rows.push(h("h3", null, t("crews")), crews && crews.by_status
    ? h("p", { class: "statline" }, ["standby", "deployed", "resting"].map((k) => h("span", { class: `cs cs-${k}` }, `${t("cs_" + k)} ${fmtNum(crews.by_status[k].crews)} (${fmtNum(crews.by_status[k].people)})`)))
    : h("p", { class: "empty" }, DASH));
  const hz = sit.field && sit.field.hazards;
  rows.push(h("h3", null, t("hazards")), hz
    ? h("p", { class: "statline" }, h("span", null, `${t("open")} ${fmtNum(hz.unresolved)}`), hz.overdue ? h("span", { class: "bad" }, `${t("overdue")} ${fmtNum(hz.overdue)}`) : null, h("span", null, `${t("total")} ${fmtNum(hz.total)}`))
    : h("p", { class: "empty" }, DASH));
  const vul = sit.vulnerable;
  rows.push(h("h3", null, t("vulnerable")), vul && vul.by_state
    ? h("p", { class: "statline" }, ["reached", "not_reached", "needs_help", "unknown"].map((k) => h("span", { class: `vs vs-${k}` }, `${t("vs_" + k)} ${fmtNum(vul.by_state[k] || 0)}`)))
    : h("p", { class: "empty" }, DASH));
  if (state.reports.length) {
    rows.push(h("h3", null, t("reports")), h("ul", { class: "compact" }, state.reports.slice(0, 6).map((r) =>
      h("li", null, `${fmtTime(r.created_at)} ${word(r.kind)}${r.zone_id ? " · " + ctx.zoneName(r.zone_id) : ""}${typeof r.note === "string" && r.note ? " — " + r.note : ""}`))));
  }
  box.replaceChildren(...rows.filter(Boolean));
}

// --- liaison ------------------------------------------------------------------------------
export function renderLiaison() {
  const box = $("#liaison .list");
  const li = state.situation && state.situation.liaison;
  if (!li) { box.replaceChildren(h("p", { class: "empty" }, DASH)); return; }
  const head = h("p", { class: "statline" },
    h("span", { class: li.notices_open ? "warn" : "" }, `${t("not_acked")} ${fmtNum(li.notices_open || 0)}`),
    li.notices_escalated ? h("span", { class: "bad" }, `${t("escalated")} ${fmtNum(li.notices_escalated)}`) : null,
    li.follow_ups_open !== undefined ? h("span", null, `${t("follow_ups")} ${fmtNum(li.follow_ups_open)}`) : null);
  const wall = document.body.classList.contains("wall");
  const rows = state.liaison.filter((n) => !wall || !n.exercise).slice(0, 8).map((n) => {
    const recips = n.recipients || [];
    const acked = recips.filter((r) => r.acknowledged_at).length;
    const who = [...new Set(recips.map((r) => r.acknowledged_by).filter(Boolean).concat(n.acknowledged_by || []))];
    return h("div", { class: `liaison-row st-${n.status}`, "data-notice": n.id },
      h("span", { class: "muted" }, fmtTime(n.created_at || n.created_at_local)), " ",
      n.exercise ? h("span", { class: "chip ex" }, t("exercise")) : null, " ",
      h("span", null, noticeTitle(n)), " ",
      h("span", { class: "chip" }, n.status === "open" ? t("not_acked") : n.status === "escalated" ? t("escalated") : t("acked")),
      recips.length ? h("span", { class: "muted" }, ` ${acked}/${recips.length}`) : null,
      who.length ? h("span", { class: "muted" }, ` · ${who.join(", ")}`) : null);
  });
  box.replaceChildren(head, ...(rows.length ? rows : [h("p", { class: "empty" }, t("no_liaison"))]));
}

function noticeTitle(n) {
  if (n.signal) {
    const [source, kind, level] = String(n.signal).split(":");
    const info = level && levelInfo(source, kind, level);
    if (info) return `${source} ${pick(info.short || info.names)}`;
    const k = kindInfo(source, kind);
    if (k) return `${source} ${pick(k.names)} — ${t("ev_lower")}`;
    return n.signal;
  }
  return pick(n.texts, "") || word(n.kind);
}

// --- event log ----------------------------------------------------------------------------
export function describe(e, ctx) {
  const d = e.data || {};
  switch (e.type) {
    case "signal.changed": {
      const src = d.source;
      const info = d.level && levelInfo(d.source, d.kind, d.level);
      const name = d.level ? pick((info && info.short) || d.names, d.level) : pick(kindInfoNames(d.source, d.kind), d.kind);
      const drill = d.exercise ? `[${t("exercise")}] ` : "";
      return `${drill}${src}: ${t("ev_" + d.change) || d.change} ${name}${d.actor ? " · " + d.actor : ""}`;
    }
    case "facility.changed": return d.facility ? `${pick(d.facility.name, d.facility.id)}: ${pick(d.facility.status_name, d.facility.status)}` : e.type;
    case "crew.updated": return d.crew ? `${d.crew.name}: ${t("cs_" + d.crew.status)}` : e.type;
    case "evacuation.updated":
      if (d.order) return `${t("lg_evac")}: ${ctx.zoneName(d.order.zone_id)} — ${t(d.order.level)} (${d.order.status})`;
      if (d.movement) return `${t("c_evacuated")}: +${fmtNum(d.movement.people)}`;
      return e.type;
    case "shelter.updated": return d.shelter ? `${pick(d.shelter.name, d.shelter.id)}: ${fmtNum(d.shelter.occupancy)}/${fmtNum(d.shelter.capacity)}` : e.type;
    case "inspection.updated": {
      const what = d.hazard ? `${word("hazard")} ${word(d.hazard.kind)}${d.hazard.place ? " · " + d.hazard.place : ""}` : `${word(d.entity)} ${d.group ? d.group.name : ""}`;
      return `${what}: ${word(d.action)}`;
    }
    case "field_report.created": {
      const r = d.report || {};
      return `${t("reports")}: ${word(r.kind)}${r.zone_id ? " · " + ctx.zoneName(r.zone_id) : ""}${r.note ? " — " + r.note : ""}`;
    }
    case "vulnerable.updated": return `${t("vulnerable")}: ${word(d.action)}${d.community ? " · " + ctx.zoneName(d.community) : ""}${d.state ? " · " + t("vs_" + d.state) : ""}`;
    case "alarm.raised": case "alarm.updated": {
      const a = d.alarm || {};
      return `${a.kind === "help" ? t("alarm_help") : `${t("alarm_hazard")}: ${word(a.kind)}`} #${a.id ?? "?"}: ${word(d.action)}`;
    }
    case "dispatch.degraded": return d.degraded ? `${t("dispatch_degraded")}: ${fmtNum(d.sms_rate)}/s` : t("dispatch_restored");
    case "dispatch.recovered": return t(d.gone ? "dispatch_gone" : "dispatch_restored");
    case "feed.stale": case "feed.recovered": return `${t("feeds")}: ${d.id} ${t("fs_" + d.status)}`;
    case "rule.fired": return `${t("rule")}: ${pick(d.title, d.rule_id)}${d.phase ? ` (${d.phase})` : ""}`;
    case "rule.action_run": return `${t("rule")} ${d.rule_id || ""}: ${d.summary || d.do || ""} · ${d.status || ""}`;
    case "prompt.created": case "prompt.resolved": return `${pick(d.texts, d.kind)}${d.resolved_by ? " · " + d.resolved_by : ""}`;
    case "liaison.notified": case "liaison.escalated": return `${t("liaison")}: ${noticeTitle(d)} · ${t(d.status === "escalated" ? "escalated" : "not_acked")}`;
    case "liaison.acknowledged": return `${t("liaison")} #${d.notice_id}: ${t("acked")}${d.by ? " · " + d.by : ""}`;
    default:
      if (e.type.startsWith("broadcast.")) {
        const b = d.broadcast || d;
        const who = b.approved_by || b.cancelled_by || b.created_by;
        return `#${b.id ?? d.broadcast_id ?? "?"} ${word(e.type.split(".")[1])}${b.recipients ? ` · ${fmtNum(b.recipients)} ${t("recipients")}` : ""}${who ? " · " + who : ""}`;
      }
      return pick(d.texts, "") || pick(d.title, "") || d.summary || d.headline || d.message || d.identifier || d.rule || d.name || d.action || "";
  }
}

function kindInfoNames(source, kind) { const k = kindInfo(source, kind); return k && k.names; }

export function renderLog(ctx) {
  const box = $("#log .list");
  // a drill's events are marked where they are not already (a broadcast, an alarm, a notice)
  const drill = (e) => e.type !== "signal.changed" && e.data && e.data.exercise;
  box.replaceChildren(...state.log.slice(0, 80).map((e) => h("div", { class: `log-row t-${e.type.replace(".", "-")}${drill(e) ? " ex" : ""}` },
    h("span", { class: "muted" }, fmtTime(e.at)), " ",
    drill(e) ? h("span", { class: "chip ex" }, t("exercise")) : null, drill(e) ? " " : null,
    h("span", { class: "etype" }, e.type), " ",
    h("span", null, describe(e, ctx)))));
}

/** Wall mode: every panel shows what fits and says how many more; nothing scrolls or is cut. */
export function fitWall() {
  for (const list of document.querySelectorAll("body.wall #board .panel .list")) {
    for (const el of list.querySelectorAll(":scope > .more")) el.remove();
    const items = [...list.children];
    for (const el of items) el.hidden = false;
    const panel = list.closest(".panel");
    let hidden = 0;
    while (panel.scrollHeight > panel.clientHeight + 1 && hidden < items.length) {
      hidden += 1;
      items[items.length - hidden].hidden = true;
      if (hidden === 1) list.append(h("p", { class: "more" }, ""));
      list.lastElementChild.textContent = t("more_n", { n: hidden });
    }
  }
}
