// What the dashboard knows: the situation snapshot, kept current by events. Sections whose
// data is not there (a domain not deployed yet) stay undefined and render as "—".
// Events always carry their new state or totals, so applying one means replacing, never
// adding up: a replayed or repeated event cannot count twice.
export const state = {
  situation: null,          // the last snapshot (plus what events changed)
  signals: new Map(),       // "SOURCE:kind" → {source, kind, level, names, in_force_since, rank}
  drill: new Map(),         // the same for a drill's (exercise) levels: never on the real tiles
  broadcasts: new Map(),    // id → broadcast with counts, rate, eta
  series: new Map(),        // broadcast id → [{t, done, delivered, rate}]
  counted: new Map(),       // broadcast id → its counts already in the snapshot's message totals
  hazards: new Map(),       // id → hazard (open ones on the map)
  groups: new Map(),        // inspection group id → group (with open trip position)
  reports: [],              // latest field reports, newest first
  liaison: [],              // liaison notices, newest first
  prompts: new Map(),       // open operator prompts from the rules (id → prompt)
  alarms: new Map(),        // alarms not closed (id → alarm): help requests, critical hazards
  drillAlarms: new Map(),   // the same raised in a drill: shown apart, marked EXERCISE
  log: [],                  // {seq, type, at, data}, newest first
  lastEventAt: 0,
  catalogue: [],
};

const MAX_LOG = 300;
const dirty = new Set();
let listener = () => {};
let frame = 0;

export function onRender(fn) { listener = fn; }

export function touch(...sections) {
  for (const s of sections) dirty.add(s);
  if (!frame) frame = requestAnimationFrame(() => {
    frame = 0;
    const sections = new Set(dirty);
    dirty.clear();
    listener(sections);
  });
}

// --- catalogue lookups --------------------------------------------------------------------
export function levelInfo(source, kind, level) {
  const src = state.catalogue.find((s) => s.id === source);
  const k = src && src.kinds.find((x) => x.id === kind);
  return (k && k.levels.find((l) => l.id === level)) || null;
}

// --- snapshot ------------------------------------------------------------------------------
export function applySnapshot(data) {
  state.situation = data || {};
  state.signals.clear();
  for (const s of state.situation.signals || []) state.signals.set(`${s.source}:${s.kind}`, { ...s });
  state.drill.clear();
  for (const s of state.situation.exercise_signals || []) state.drill.set(`${s.source}:${s.kind}`, { ...s });
  const bs = state.situation.broadcasts;
  // The snapshot's totals hold every message up to now: what a screen knew of a broadcast is
  // in them, and so are the counts of the broadcasts the snapshot lists.
  state.counted.clear();
  for (const b of state.broadcasts.values()) state.counted.set(b.id, { ...(b.counts || {}) });
  for (const b of Array.isArray(bs) ? bs : [...((bs && bs.recent) || []), ...((bs && bs.active) || []), ...((bs && bs.items) || [])]) {
    const merged = mergeBroadcast(b);
    if (merged) state.counted.set(merged.id, { ...(merged.counts || {}) });
  }
  for (const h of listOf(state.situation.field && state.situation.field.open_hazards)) state.hazards.set(h.id, h);
  if (state.situation.alarms) {
    state.alarms.clear();
    for (const a of listOf(state.situation.alarms)) state.alarms.set(a.id, a);
  }
  const li = state.situation.liaison;
  if (li) {
    // the snapshot has the latest few notices; keep what events told us about them
    const known = new Map(state.liaison.map((n) => [n.id, n]));
    state.liaison = listOf(li).map((n) => ({ ...(known.get(n.id) || {}), ...n }));
  }
  touch("all");
}

/** Fresh sections from GET /api/v1/situation (for events whose shape we do not know). */
export function applySituation(data) {
  const keep = state.situation || {};
  applySnapshot({ ...keep, ...data });
}

export function listOf(section) {
  if (!section) return [];
  if (Array.isArray(section)) return section;
  for (const k of ["items", "latest", "active", "recent", "notices", "entries", "list"]) {
    if (Array.isArray(section[k])) return section[k];
  }
  return [];
}

// --- broadcasts ----------------------------------------------------------------------------
export function broadcastOf(data) {
  const b = (data && (data.broadcast || data)) || {};
  const id = b.id ?? data.broadcast_id ?? data.id;
  return id === undefined ? null : { ...b, id };
}

export function mergeBroadcast(obj, at) {
  if (!obj || obj.id === undefined || obj.id === null) return null;
  const prev = state.broadcasts.get(obj.id) || {};
  const next = { ...prev, ...obj };
  if (obj.counts || prev.counts) next.counts = { ...(prev.counts || {}), ...(obj.counts || {}) };
  state.broadcasts.set(obj.id, next);
  if (!state.counted.has(obj.id)) {
    // newer than the snapshot: none of its messages are in the totals yet; an older one seen
    // first now: its messages so far are (only what it does from now on is added)
    const totals = messageSection().totals;
    const newer = !totals || Number(obj.id) > (totals.last_broadcast_id || 0);
    state.counted.set(obj.id, newer ? {} : { ...(next.counts || {}) });
  }
  if (next.counts) {
    const c = next.counts;
    const done = (c.sent || 0) + (c.delivered || 0) + (c.failed || 0);
    const series = state.series.get(obj.id) || [];
    const t = at ? Date.parse(at) : Date.now();
    const last = series[series.length - 1];
    if (!last || last.done !== done || t - last.t > 2000) {
      let rate = typeof obj.rate === "number" ? obj.rate : (obj.rate && obj.rate.per_second);
      if (typeof rate !== "number" && last && t > last.t) rate = ((done - last.done) * 1000) / (t - last.t);
      series.push({ t, done, delivered: c.delivered || 0, rate: Math.max(0, rate || 0) });
      if (series.length > 600) series.splice(0, series.length - 600);
      state.series.set(obj.id, series);
    }
  }
  return next;
}

function messageSection() {
  const section = state.situation && state.situation.broadcasts;
  return section && !Array.isArray(section) ? section : {};
}

const MESSAGE_KEYS = ["queued", "sending", "sent", "delivered", "failed", "cancelled"];

/** Every real message by status: the snapshot's totals (all broadcasts, from the server) plus
 * what broadcasts did since, from their events. Events carry a broadcast's whole counts, so
 * adding (counts now − counts already in the totals) never counts a message twice. */
export function messageTotals() {
  const base = messageSection().totals;
  if (!base) return null;
  const sum = {};
  for (const k of MESSAGE_KEYS) sum[k] = base[k] || 0;
  for (const b of state.broadcasts.values()) {
    // a drill's SMS never count (nor one whose kind is not known yet: it is fetched)
    if (b.exercise !== false) continue;
    const c = b.counts || {};
    const already = state.counted.get(b.id) || {};
    for (const k of MESSAGE_KEYS) sum[k] += (c[k] || 0) - (already[k] || 0);
  }
  return sum;
}

// --- events --------------------------------------------------------------------------------
function upsert(list, item, key = "id") {
  const i = list.findIndex((x) => x[key] === item[key]);
  if (i >= 0) list[i] = { ...list[i], ...item }; else list.push(item);
}

function section(name, fallback = {}) {
  state.situation ||= {};
  if (!state.situation[name] || typeof state.situation[name] !== "object") state.situation[name] = fallback;
  return state.situation[name];
}

const handlers = {
  "signal.changed"(d) {
    const key = `${d.source}:${d.kind}`;
    const levels = d.exercise ? state.drill : state.signals; // a drill never shows as real
    if (!d.level) { levels.delete(key); return ["signals", "map"]; }
    const prev = levels.get(key);
    const info = levelInfo(d.source, d.kind, d.level);
    const prevInfo = prev && levelInfo(prev.source, prev.kind, prev.level);
    const sameRank = prevInfo && info && prevInfo.rank === info.rank;
    levels.set(key, {
      ...(prev || {}), source: d.source, kind: d.kind, level: d.level,
      names: d.names || (info && info.names) || {}, rank: info ? info.rank : 0,
      in_force_since: sameRank ? prev.in_force_since : d.at, changed_at: d.at,
    });
    return ["signals"];
  },
  "facility.changed"(d) {
    if (!d.facility) return null;
    const s = section("facilities", { items: [] });
    s.items ||= [];
    upsert(s.items, d.facility);
    s.not_ok = s.items.filter((f) => f.level !== "ok").length;
    return ["facilities", "map"];
  },
  "crew.updated"(d) {
    const s = section("crews", { items: [] });
    if (d.totals) Object.assign(s, d.totals);
    if (d.crew) { s.items ||= []; upsert(s.items, d.crew); }
    return ["counters", "field", "map"];
  },
  "evacuation.updated"(d) {
    const s = section("evacuation", { orders: [] });
    if (d.totals) Object.assign(s, d.totals);
    if (d.order) {
      s.orders = (s.orders || []).filter((o) => o.zone_id !== d.order.zone_id && o.id !== d.order.id);
      if (d.order.status === "active") s.orders.push(d.order);
    }
    return ["counters", "field", "map"];
  },
  "shelter.updated"(d) {
    const s = section("evacuation", { orders: [] });
    if (d.totals) s.shelters = d.totals;
    if (d.shelter) { s.shelter_list ||= []; upsert(s.shelter_list, d.shelter); }
    return ["field", "map", "counters"];
  },
  "inspection.updated"(d) {
    const s = section("field");
    if (d.totals) Object.assign(s, d.totals);
    if (d.hazard) {
      if (["open", "assigned"].includes(d.hazard.status)) state.hazards.set(d.hazard.id, d.hazard);
      else state.hazards.delete(d.hazard.id);
    }
    if (d.group) state.groups.set(d.group.id, d.group);
    return ["counters", "field", "map"];
  },
  "help_request.updated"(d) {
    const s = section("field");
    if (d.totals) s.help_requests = d.totals;
    return ["field"];
  },
  "field_report.created"(d) {
    if (d.totals) Object.assign(section("field"), d.totals);
    if (d.report) { state.reports.unshift(d.report); state.reports.length = Math.min(state.reports.length, 50); }
    return ["counters", "field"];
  },
  "alarm.raised"(d) { return alarmEvent(d, true); },
  "alarm.updated"(d) { return alarmEvent(d, false); },
  "prompt.created"(d) { if (d.status === "open" || !d.status) state.prompts.set(d.id, d); return ["prompts"]; },
  "prompt.resolved"(d) { state.prompts.delete(d.id); return ["prompts"]; },
  "rule.fired"() { return null; },
  "feed.stale"(d) { return feedEvent(d); },
  "feed.recovered"(d) { return feedEvent(d); },
  "rule.action_run"() { return null; },
  // workers sending without Redis: the event carries the whole list (the snapshot's too)
  "dispatch.degraded"(d) { state.situation.dispatch = { degraded_workers: d.degraded_workers || [] }; return ["dispatch"]; },
  "dispatch.recovered"(d) { state.situation.dispatch = { degraded_workers: d.degraded_workers || [] }; return ["dispatch"]; },
  "vulnerable.updated"(d) {
    if (d.totals) state.situation.vulnerable = d.totals;
    return ["counters", "field"];
  },
};

let alarmRaised = () => {};
/** Called with each alarm raised while this screen is open (the sound). */
export function onAlarmRaised(fn) { alarmRaised = fn; }

export function putAlarm(a) {
  const map = a.exercise ? state.drillAlarms : state.alarms;  // a drill's never sounds as real
  if (a.status === "closed") map.delete(a.id);
  else map.set(a.id, { ...(map.get(a.id) || {}), ...a });
}

function alarmEvent(d, raised) {
  const a = d && d.alarm;
  if (!a) return null;
  putAlarm(a);
  if (d.totals && !a.exercise) section("alarms", { items: [] }).totals = d.totals;
  if (raised && !a.exercise) alarmRaised(a);
  return ["alarms", "map", "broadcasts"];
}

let eventSeen = () => {};
/** Called with the type of every event applied (the work screens reload what changed). */
export function onEvent(fn) { eventSeen = fn; }

function feedEvent(d) {
  if (!d || !d.id) return null;
  state.situation.feeds = (state.situation.feeds || []).filter((f) => f.id !== d.id).concat([d]);
  return ["signals"];
}

let fetchMissing = () => {};
const asked = new Set();
/** Called with the id of a broadcast an event named before we knew it (fetch it whole). */
export function onMissingBroadcast(fn) { fetchMissing = fn; }

function broadcastEvent(type, d, at) {
  const b = broadcastOf(d);
  if (!b) return null;
  const known = state.broadcasts.get(b.id);
  if (!known || !known.created_by) {
    if (type === "broadcast.progress" && !(known && known.status)) b.status = "sending";
    if (!asked.has(b.id)) { asked.add(b.id); fetchMissing(b.id); }
  } else if (type === "broadcast.updated") fetchMissing(b.id);  // its texts changed: the approver reads the new ones
  const status = { "broadcast.approved": null, "broadcast.cancelled": "cancelled", "broadcast.completed": "completed", "broadcast.rejected": "rejected" }[type];
  if (status && !b.status) b.status = status;
  if (type === "broadcast.progress" && !b.counts) {
    const c = {};
    for (const k of ["queued", "sending", "sent", "delivered", "failed", "cancelled"]) if (typeof d[k] === "number") c[k] = d[k];
    if (Object.keys(c).length) b.counts = c;
  }
  const before = known && known.status;
  const merged = mergeBroadcast(b, at);
  // progress comes several times a second: redraw the map and the queue only on a new status
  if (type === "broadcast.progress" && merged && merged.status === before) return ["broadcasts", "counters"];
  return ["broadcasts", "counters", "approvals", "map"];
}

function liaisonEvent(type, d, at) {
  const li = section("liaison");
  if (type === "liaison.notified" || type === "liaison.escalated") {
    const i = state.liaison.findIndex((n) => n.id === d.id);
    const notice = { ...(i >= 0 ? state.liaison[i] : {}), ...d };
    if (i >= 0) state.liaison[i] = notice; else state.liaison.unshift(notice);
    if (type === "liaison.notified" && i < 0) li.notices_open = (li.notices_open || 0) + 1;
    if (type === "liaison.escalated") li.notices_escalated = (li.notices_escalated || 0) + 1;
    return ["liaison"];
  }
  if (type === "liaison.acknowledged") {
    const n = state.liaison.find((x) => x.id === d.notice_id);
    if (n) {
      if (n.status === "open" && d.first) li.notices_open = Math.max(0, (li.notices_open || 1) - 1);
      n.status = d.status || "acknowledged";
      n.acknowledged_at ||= d.at;
      n.acknowledged_by = [...new Set([...(n.acknowledged_by || []), d.by].filter(Boolean))];
      for (const r of n.recipients || []) if (r.contact_id === d.contact_id) { r.acknowledged_at = d.at; r.acknowledged_by = d.by; }
    }
    return ["liaison"];
  }
  if (type === "liaison.logged") { li.calls_seen = (li.calls_seen || 0) + 1; return ["liaison"]; }
  return null;
}

// Events about a drill's field records (`"exercise": true`, emergency.drills): they never
// change the real panels, which show the real situation only. The log still lists them.
const DRILL_APART = new Set([
  "crew.updated", "evacuation.updated", "shelter.updated", "inspection.updated",
  "help_request.updated", "field_report.created", "vulnerable.updated", "liaison.logged",
]);

/** Apply one event (unless it is already in the snapshot); returns whether it was known. */
export function applyEvent(msg, { replayed = false } = {}) {
  state.lastEventAt = Date.now();
  if (msg.type !== "broadcast.progress") {
    state.log.unshift({ seq: msg.seq, type: msg.type, at: msg.at, data: msg.data || {} });
    if (state.log.length > MAX_LOG) state.log.length = MAX_LOG;
    touch("log");
  }
  if (replayed) return true;
  const d = msg.data || {};
  if (d.exercise === true && DRILL_APART.has(msg.type)) return true;
  let sections = null;
  if (handlers[msg.type]) sections = handlers[msg.type](d);
  else if (msg.type.startsWith("broadcast.")) sections = broadcastEvent(msg.type, d, msg.at);
  else if (msg.type.startsWith("liaison.")) {
    sections = liaisonEvent(msg.type, d, msg.at);
    if (!sections) return false;
  } else return false;
  if (sections) touch(...sections);
  eventSeen(msg.type);
  return true;
}
