// The command-center dashboard: sign in (name and password, or a kiosk's token), then live
// through /ws/live. Desk mode has the forms and the work screens; wall mode (?mode=wall) is
// read from across the room.
import { h, $, $$ } from "./dom.js";
import { t, setLang, LANGS, LANG_LABEL, translateStatic, fmtTime, fmtNum } from "./i18n.js";
import { api, session, storedToken, saveToken, forgetToken } from "./api.js";
import { LiveStream } from "./live.js";
import { state, onRender, touch, applySnapshot, applySituation, applyEvent, mergeBroadcast, listOf, onMissingBroadcast, onAlarmRaised, onEvent, putAlarm } from "./store.js";
import * as view from "./view.js";
import { renderSignalForm, refreshSignalForm, Composer, installBroadcastActions } from "./actions.js";
import { AlarmDesk, setBaseTitle } from "./alarms.js";
import { Work } from "./screens.js";
import { HengqinMap } from "./map.js";

const boot = JSON.parse($("#boot").textContent);
state.catalogue = boot.catalogue;
const params = new URLSearchParams(location.search);
const ctx = { boot, me: null, can: {}, zones: [], map: null, composer: null, work: null, alarms: null,
  zoneName: (id) => (ctx.map ? ctx.map.zoneName(id) : id) };
let stream = null;
let connStatus = "offline";
let resyncTimer = 0;
const LOG_HISTORY = 150;

// --- language and mode ----------------------------------------------------------------
function chooseLang() {
  const asked = params.get("lang") || localStorage.getItem("typhoon.lang");
  if (LANGS.includes(asked)) return asked;
  const nav = (navigator.language || "").toLowerCase();
  if (nav.startsWith("zh")) return /tw|hk|mo|hant/.test(nav) ? "zh-Hant" : "zh-Hans";
  if (nav.startsWith("pt")) return "pt";
  return nav.startsWith("en") ? "en" : "zh-Hans";
}

function setMode(mode) {
  document.body.classList.toggle("wall", mode === "wall");
  document.body.classList.toggle("desk", mode !== "wall");
  $("#mode-toggle").textContent = mode === "wall" ? t("desk") : t("wall");
  localStorage.setItem("typhoon.mode", mode);
  if (ctx.map) setTimeout(() => ctx.map.invalidate(), 50);
  if (ctx.me) { touch("all"); view.fitLevels(); }
}
const mode = () => (document.body.classList.contains("wall") ? "wall" : "desk");

function applyLang(l) {
  setLang(l);
  localStorage.setItem("typhoon.lang", l);
  $("#lang").value = l;
  translateStatic();
  document.title = `${t("title")} · ${t("subtitle")}`;
  setBaseTitle(document.title);
  $("#mode-toggle").textContent = mode() === "wall" ? t("desk") : t("wall");
  const demo = $("#demo-title");
  if (demo) demo.textContent = t("demo_users", { p: demo.dataset.password });
  renderExerciseBanner();
  if (ctx.map) ctx.map.relabel();
  if (ctx.alarms) ctx.alarms.renderSoundButton();
  if (ctx.me) { renderUser(); if (ctx.can.raise_signal) renderSignalForm(ctx); ctx.composer && ctx.composer.render(); ctx.work && ctx.work.relabel(); }
  setConn(connStatus);
  touch("all");
}

// Dispatch workers sending without Redis (issue 20 item 7): in the snapshot, so a screen
// opened during the outage shows it too; gone when they recover.
function renderDispatchBanner() {
  const box = $("#dispatch-banner");
  const workers = ((state.situation && state.situation.dispatch) || {}).degraded_workers || [];
  box.hidden = workers.length === 0;
  const rate = workers.reduce((sum, w) => sum + (w.sms_rate || 0), 0);
  if (workers.length) box.textContent = t("dispatch_banner", { n: workers.length, r: fmtNum(Math.round(rate * 10) / 10) });
  // the banner scrolls away with the page; the header's flag stays in view while degraded
  const flag = $("#dispatch-flag");
  flag.hidden = workers.length === 0;
  flag.textContent = t("dispatch_flag");
}

function renderExerciseBanner() {
  const box = $("#exercise-banner");
  box.hidden = !boot.replay;
  if (boot.replay) box.textContent = t("exercise_banner", { s: boot.replay });
}

// --- rendering --------------------------------------------------------------------------
// What must be seen at once (alarms, signals, figures) is drawn in this frame; the heavier
// rest (map, lists, log) just after it is painted, the map at most every 300 ms.
let later = new Set();
let laterTimer = 0;
let mapTimer = 0;
onRender((sections) => {
  const all = sections.has("all");
  const want = (s) => all || sections.has(s);
  if (want("alarms") && ctx.alarms) ctx.alarms.render();
  if (!ctx.me) return;
  if (want("dispatch")) renderDispatchBanner();
  if (want("signals")) { view.renderSignals(); refreshSignalForm(); }
  if (want("counters")) view.renderCounters();
  for (const s of sections) later.add(s);
  if (!laterTimer) laterTimer = setTimeout(renderRest, 0);
});

function renderRest() {
  const sections = later;
  later = new Set();
  laterTimer = 0;
  if (!ctx.me) return;
  const all = sections.has("all");
  const want = (s) => all || sections.has(s);
  if (want("broadcasts") || want("liaison") || want("alarms")) view.renderBroadcasts(ctx);
  if (want("approvals")) view.renderApprovals(ctx);
  if (want("prompts")) view.renderPrompts(ctx);
  if (want("facilities")) view.renderFacilities();
  if (want("field")) view.renderField(ctx);
  if (want("liaison")) view.renderLiaison();
  if (want("log")) view.renderLog(ctx);
  if (ctx.map && (want("map") || want("facilities") || want("broadcasts") || want("alarms")) && !mapTimer) {
    mapTimer = setTimeout(() => { mapTimer = 0; ctx.map.update(state); if (mode() === "wall") view.fitWall(); }, all ? 0 : 300);
  }
  if (mode() === "wall") view.fitWall();
}

function setConn(status, attempt) {
  connStatus = status;
  const box = $("#conn");
  box.className = `conn ${status}`;
  box.dataset.status = status;
  $("#conn-text").textContent = status === "live" ? t("live") : status === "connecting" ? t("connecting")
    : status === "reconnecting" ? `${t("reconnecting")}${attempt ? ` (${attempt})` : ""}` : t("offline");
}

function tick() {
  $("#clock").textContent = fmtTime(new Date(), true);
  if (stream && stream.lastMessageAt) {
    const secs = Math.floor((Date.now() - stream.lastMessageAt) / 1000);
    $("#fresh").textContent = t("updated_ago", { n: secs });
    $("#fresh").classList.toggle("stale", secs > boot.ping_seconds * 2);
  } else $("#fresh").textContent = "";
  if (ctx.me) view.updateSince();
}

function renderUser() {
  $("#user").textContent = `${ctx.me.name} · ${t("role_" + ctx.me.role)}`;
  document.body.dataset.role = ctx.me.role;
  for (const el of $$("[data-needs]")) el.hidden = !el.dataset.needs.split(" ").some((a) => ctx.can[a]);
  $("#viewer-note").hidden = Object.values(ctx.can).some(Boolean);
}

// --- sign in: a password session (cookie + CSRF token), or a token -------------------------
async function signInWithPassword(name, password) {
  const r = await api("/api/v1/auth/login", { method: "POST", token: null, body: { name, password } });
  if (!r.ok) {
    $("#signin-error").textContent = r.status === 401 ? t("wrong_password") : r.status === 429 ? t("too_many") : `${t("error")}: ${r.message}`;
    return false;
  }
  $("#password").value = "";
  forgetToken();
  return startSession({ csrf: r.data.csrf_token, me: r.data });
}

async function signInWithToken(token, remember) {
  const r = await api("/api/v1/me", { token });
  if (!r.ok) {
    $("#signin-error").textContent = r.status === 401 ? t("bad_token") : `${t("error")}: ${r.message}`;
    showSignIn();
    return false;
  }
  saveToken(token, remember);
  return startSession({ token, me: r.data });
}

async function startSession({ token = null, csrf = null, me }) {
  session.token = token;
  session.csrf = csrf;
  ctx.me = me;
  ctx.can = me.can || {};
  $("#signin").hidden = true;
  $("#board").hidden = false;
  $("#signout").hidden = false;
  renderUser();
  await startBoard();
  return true;
}

function showSignIn() {
  $("#signin").hidden = false;
  $("#board").hidden = true;
  $("#signout").hidden = true;
  $("#user").textContent = "";
  $("#name").focus();
}

async function signOut() {
  if (stream) stream.stop();
  stream = null;
  if (!session.token) await api("/api/v1/auth/logout", { method: "POST" });
  forgetToken();
  Object.assign(session, { token: null, csrf: null });
  ctx.me = null;
  setConn("offline");
  showSignIn();
}

// --- the board ----------------------------------------------------------------------------
async function startBoard() {
  const zones = await api("/api/v1/zones");
  ctx.zones = zones.ok ? zones.data.features : [];
  if (!ctx.map && HengqinMap.available()) {
    ctx.map = new HengqinMap($("#map"), { tileUrl: boot.map.tile_url, tileAttribution: boot.map.tile_attribution, legend: $("#legend") });
    if (zones.ok) ctx.map.setZones(zones.data);
    if (zones.ok && zones.data.properties && zones.data.properties.approximate) {
      $("#map-note").dataset.i18n = "map_approx"; // translateStatic follows a language switch
      $("#map-note").textContent = t("map_approx");
    }
  } else if (!HengqinMap.available()) {
    $("#map").hidden = true;
    $("#map-missing").hidden = false;
  }
  if (ctx.can.raise_signal) renderSignalForm(ctx);
  if (ctx.can.draft_broadcast) { ctx.composer = new Composer(ctx); ctx.composer.render(); ctx.composer.loadTemplates(); }
  ctx.work = new Work(ctx, []);
  loadExtras().then(() => ctx.work.mount());
  if (stream) stream.stop();
  stream = new LiveStream({
    token: session.token, pingSeconds: boot.ping_seconds,
    onSnapshot: (msg) => { applySnapshot(msg.data); },
    onEvent: (msg, opts) => { if (!applyEvent(msg, opts) && !opts.replayed) scheduleResync(); },
    onStatus: setConn,
    onUnauthorized: () => { $("#signin-error").textContent = session.token ? t("bad_token") : t("session_ended"); signOut(); },
  });
  // Start the log with the last events before this screen opened: connect with since=N,
  // the events up to the snapshot are logged, not applied (they are in the snapshot).
  const sit = await api("/api/v1/situation");
  if (sit.ok && typeof sit.data.last_seq === "number") stream.lastSeq = Math.max(0, sit.data.last_seq - LOG_HISTORY);
  window.__dashboard = { state, stream, ctx, session };  // for the browser tests and a curious operator
  stream.start();
}

async function loadExtras() {
  // Lists the snapshot may not carry (yet): broadcasts, open hazards, inspection groups.
  const [b, hz, groups, reports, prompts, notices, alarms] = await Promise.all([
    api("/api/v1/broadcasts?limit=50"), api("/api/v1/hazards?status=open,assigned"), api("/api/v1/inspection-groups"),
    ctx.can.manage_field ? api("/api/v1/field-reports?limit=20") : Promise.resolve({ ok: false }),
    api("/api/v1/rules/prompts?status=open"),
    ctx.can.liaison ? api("/api/v1/liaison/notices") : Promise.resolve({ ok: false }),
    api("/api/v1/alarms?status=open,acknowledged,assigned"),  // a drill's too (the snapshot: real only)
  ]);
  if (alarms.ok) for (const a of listOf(alarms.data)) putAlarm(a);
  if (prompts.ok) for (const x of listOf(prompts.data)) state.prompts.set(x.id, x);
  if (reports.ok && !state.reports.length) state.reports = listOf(reports.data).map((r) => (r.kind === "resident_check" ? { ...r, note: null } : r));
  if (b.ok) for (const x of listOf(b.data)) mergeBroadcast(x);
  if (hz.ok) for (const x of listOf(hz.data)) if (["open", "assigned"].includes(x.status)) state.hazards.set(x.id, x);
  if (groups.ok) for (const g of listOf(groups.data)) state.groups.set(g.id, g);
  if (notices.ok) {
    const known = new Map(state.liaison.map((n) => [n.id, n]));
    for (const n of listOf(notices.data)) known.set(n.id, { ...(known.get(n.id) || {}), ...n });
    state.liaison = [...known.values()].sort((a, c) => c.id - a.id);
  }
  touch("all");
}

function scheduleResync() {
  // An event we cannot apply by itself (a new domain): read the situation again, once.
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(async () => {
    const r = await api("/api/v1/situation");
    if (r.ok) applySituation(r.data);
  }, 800);
}

// --- start --------------------------------------------------------------------------------
async function init() {
  for (const l of LANGS) $("#lang").append(h("option", { value: l }, LANG_LABEL[l]));
  $("#lang").onchange = (e) => applyLang(e.target.value);
  ctx.alarms = new AlarmDesk(ctx);
  applyLang(chooseLang());
  setMode(params.get("mode") || localStorage.getItem("typhoon.mode") || "desk");
  $("#mode-toggle").onclick = () => setMode(mode() === "wall" ? "desk" : "wall");
  $("#signout").onclick = signOut;
  $("#password-form").onsubmit = (ev) => {
    ev.preventDefault();
    $("#signin-error").textContent = "";
    signInWithPassword($("#name").value.trim(), $("#password").value);
  };
  $("#token-button").onclick = () => {
    $("#signin-error").textContent = "";
    const token = $("#token").value.trim();
    if (token) signInWithToken(token, $("#remember").checked);
  };
  for (const btn of $$("[data-demo-token]")) btn.onclick = () => { $("#token").value = btn.dataset.demoToken; $("#token-button").click(); };
  installBroadcastActions(ctx);
  onAlarmRaised(() => ctx.alarms.raised());
  onEvent((type) => { if (ctx.work) ctx.work.event(type); });
  onMissingBroadcast(async (id) => {
    const r = await api(`/api/v1/broadcasts/${id}`);
    if (!r.ok) return;
    const done = (c) => (c ? (c.sent || 0) + (c.delivered || 0) + (c.failed || 0) : -1);
    const now = state.broadcasts.get(r.data.id);
    // progress events that came meanwhile are newer than this answer
    const fresh = now && done(now.counts) > done(r.data.counts) ? { ...r.data, counts: now.counts, status: now.status } : r.data;
    mergeBroadcast(fresh);
    touch("broadcasts", "approvals", "map", "counters");
  });
  window.addEventListener("resize", () => { if (ctx.me) { view.fitLevels(); if (mode() === "wall") touch("all"); } });
  setConn("offline");
  setInterval(tick, 1000);
  // A kiosk may be given its token in the fragment (never sent to the server): /?mode=wall#token=…
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname + location.search);
  // A token from the link lasts this tab's session only (sessionStorage): it stays signed in
  // across restarts only when the person ticked "stay signed in" on the form themselves.
  if (fromHash) { signInWithToken(fromHash, false); return; }
  if (storedToken()) { signInWithToken(storedToken(), Boolean(localStorage.getItem("typhoon.token"))); return; }
  // A browser signed in with a password: its cookie is still good (the CSRF token comes back).
  const s = await api("/api/v1/auth/session", { token: null });
  if (s.ok) startSession({ csrf: s.data.csrf_token, me: s.data });
  else showSignIn();
}

init();
