// The command-center dashboard: sign in with a token, then live through /ws/live.
import { h, $, $$ } from "./dom.js";
import { t, setLang, lang, LANGS, LANG_LABEL, translateStatic, fmtTime } from "./i18n.js";
import { api, session, storedToken, saveToken, forgetToken } from "./api.js";
import { LiveStream } from "./live.js";
import { state, onRender, touch, applySnapshot, applySituation, applyEvent, mergeBroadcast, listOf, onMissingBroadcast } from "./store.js";
import * as view from "./view.js";
import { renderSignalForm, refreshSignalForm, Composer, installBroadcastActions } from "./actions.js";
import { HengqinMap } from "./map.js";

const boot = JSON.parse($("#boot").textContent);
state.catalogue = boot.catalogue;
const params = new URLSearchParams(location.search);
const ctx = { boot, me: null, can: {}, zones: [], map: null, zoneName: (id) => (ctx.map ? ctx.map.zoneName(id) : id) };
let stream = null;
let composer = null;
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
  if (ctx.me) view.fitLevels();
}
const mode = () => (document.body.classList.contains("wall") ? "wall" : "desk");

function applyLang(l) {
  setLang(l);
  localStorage.setItem("typhoon.lang", l);
  $("#lang").value = l;
  translateStatic();
  $("#mode-toggle").textContent = mode() === "wall" ? t("desk") : t("wall");
  if (ctx.map) ctx.map.relabel();
  if (ctx.me) { renderUser(); renderSignalForm(ctx); composer && composer.render(); }
  setConn(connStatus);
  touch("all");
}

// --- rendering --------------------------------------------------------------------------
onRender((sections) => {
  const all = sections.has("all");
  const want = (s) => all || sections.has(s);
  if (!ctx.me) return;
  if (want("signals")) { view.renderSignals(); refreshSignalForm(); }
  if (want("counters")) view.renderCounters();
  if (want("broadcasts")) view.renderBroadcasts(ctx);
  if (want("approvals")) view.renderApprovals(ctx);
  if (want("prompts")) view.renderPrompts(ctx);
  if (want("facilities")) view.renderFacilities();
  if (want("field")) view.renderField(ctx);
  if (want("liaison")) view.renderLiaison();
  if (want("log")) view.renderLog(ctx);
  if (ctx.map && (want("map") || want("facilities") || want("broadcasts"))) ctx.map.update(state);
});

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
  if (ctx.me) view.updateSince();  // time in force
}

function renderUser() {
  $("#user").textContent = `${ctx.me.name} · ${ctx.me.role}`;
  document.body.dataset.role = ctx.me.role;
  for (const el of $$("[data-needs]")) el.hidden = !el.dataset.needs.split(" ").some((a) => ctx.can[a]);
  $("#viewer-note").hidden = Object.values(ctx.can).some(Boolean);
}

// --- sign in ------------------------------------------------------------------------------
async function signIn(token, remember) {
  const r = await api("/api/v1/me", { token });
  if (!r.ok) {
    $("#signin-error").textContent = r.status === 401 ? t("bad_token") : `${t("error")}: ${r.message}`;
    showSignIn();
    return false;
  }
  saveToken(token, remember);
  session.token = token;
  ctx.me = r.data;
  ctx.can = r.data.can || {};
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
  $("#token").focus();
}

function signOut() {
  if (stream) stream.stop();
  stream = null;
  forgetToken();
  session.token = null;
  ctx.me = null;
  setConn("offline");
  showSignIn();
}

// --- the board ----------------------------------------------------------------------------
async function startBoard() {
  const zones = await api("/api/v1/zones");
  ctx.zones = zones.ok ? zones.data.features : [];
  if (!ctx.map && HengqinMap.available()) {
    ctx.map = new HengqinMap($("#map"), { tileUrl: boot.map.tile_url, tileAttribution: boot.map.tile_attribution });
    if (zones.ok) ctx.map.setZones(zones.data);
    if (zones.ok && zones.data.properties && zones.data.properties.approximate) $("#map-note").textContent = t("map_approx");
  } else if (!HengqinMap.available()) {
    $("#map").hidden = true;
    $("#map-missing").hidden = false;
  }
  if (ctx.can.raise_signal) renderSignalForm(ctx);
  if (ctx.can.draft_broadcast) { composer = new Composer(ctx); composer.render(); composer.loadTemplates(); }
  loadExtras();
  if (stream) stream.stop();
  stream = new LiveStream({
    token: session.token, pingSeconds: boot.ping_seconds,
    onSnapshot: (msg) => { applySnapshot(msg.data); },
    onEvent: (msg, opts) => { if (!applyEvent(msg, opts) && !opts.replayed) scheduleResync(); },
    onStatus: setConn,
    onUnauthorized: () => { $("#signin-error").textContent = t("bad_token"); signOut(); },
  });
  // Start the log with the last events before this screen opened: connect with since=N,
  // the events up to the snapshot are logged, not applied (they are in the snapshot).
  const sit = await api("/api/v1/situation");
  if (sit.ok && typeof sit.data.last_seq === "number") stream.lastSeq = Math.max(0, sit.data.last_seq - LOG_HISTORY);
  window.__dashboard = { state, stream, ctx };  // for the browser tests and a curious operator
  stream.start();
}

async function loadExtras() {
  // Lists the snapshot may not carry (yet): broadcasts, open hazards, inspection groups.
  const [b, hz, groups, reports, prompts] = await Promise.all([
    api("/api/v1/broadcasts?limit=50"), api("/api/v1/hazards?status=open,assigned"), api("/api/v1/inspection-groups"),
    ctx.can.manage_field ? api("/api/v1/field-reports?limit=20") : Promise.resolve({ ok: false }),
    api("/api/v1/rules/prompts?status=open"),
  ]);
  if (prompts.ok) for (const x of listOf(prompts.data)) state.prompts.set(x.id, x);
  if (reports.ok && !state.reports.length) state.reports = listOf(reports.data).map((r) => (r.kind === "resident_check" ? { ...r, note: null } : r));
  if (b.ok) for (const x of listOf(b.data)) mergeBroadcast(x);
  if (hz.ok) for (const x of listOf(hz.data)) if (["open", "assigned"].includes(x.status)) state.hazards.set(x.id, x);
  if (groups.ok) for (const g of listOf(groups.data)) state.groups.set(g.id, g);
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
function init() {
  for (const l of LANGS) $("#lang").append(h("option", { value: l }, LANG_LABEL[l]));
  $("#lang").onchange = (e) => applyLang(e.target.value);
  applyLang(chooseLang());
  setMode(params.get("mode") || localStorage.getItem("typhoon.mode") || "desk");
  $("#mode-toggle").onclick = () => setMode(mode() === "wall" ? "desk" : "wall");
  $("#signout").onclick = signOut;
  $("#signin-form").onsubmit = (ev) => {
    ev.preventDefault();
    $("#signin-error").textContent = "";
    signIn($("#token").value.trim(), $("#remember").checked);
  };
  for (const btn of $$("[data-demo-token]")) btn.onclick = () => { $("#token").value = btn.dataset.demoToken; $("#signin-form").requestSubmit(); };
  installBroadcastActions();
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
  window.addEventListener("resize", () => { if (ctx.me) view.fitLevels(); });
  setConn("offline");
  setInterval(tick, 1000);
  // A kiosk may be given its token in the fragment (never sent to the server): /?mode=wall#token=…
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname + location.search);
  const token = fromHash || storedToken();
  if (token) signIn(token, Boolean(fromHash) || Boolean(localStorage.getItem("typhoon.token")));
  else showSignIn();
}

init();
