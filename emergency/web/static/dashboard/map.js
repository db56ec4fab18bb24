// The Hengqin map: our own zones (GET /api/v1/zones) over an offline outline of the coasts
// (Hengqin, Macau, Zhuhai) and the bridges, from basemap.json: no tiles unless
// TYPHOON_MAP_TILE_URL is set, so it works with no internet. Live markers each with their
// own icon (alarms, hazards, shelters, crews, inspection groups, facilities) and a legend;
// dense markers cluster; labels that would overlap a marker or another label are hidden
// (the most important kept). A polygon drawn by clicks gives a broadcast's area.
import { pick, t, word, fmtNum } from "./i18n.js";
import { h } from "./dom.js";

const L = window.L;
const AREA_STYLE = {
  port: { color: "#7dd3fc" }, housing: { color: "#c4b5fd" }, campus: { color: "#86efac" },
  low_lying: { color: "#fb923c" },
};
const FACILITY_ICON = { bridge: "B", port: "P", school: "S", shuttle_bus: "Bus", neighbourhood: "N" };
// One definition per kind of marker: the legend is drawn from the same list.
export const MARKERS = [
  { id: "alarm", label: "lg_alarm", html: "SOS" },
  { id: "hazard", label: "lg_hazard", html: "▲" },
  { id: "shelter", label: "lg_shelter", html: "⌂" },
  { id: "crew", label: "lg_crew", html: "✚" },
  { id: "group", label: "lg_group", html: "G" },
  { id: "fac", label: "lg_facility", html: "B" },
];

function html(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`); }
const icon = (cls, content) => L.divIcon({ className: `mk ${cls}`, html: content, iconSize: null });

export class HengqinMap {
  static available() { return Boolean(L); }

  constructor(element, { tileUrl, tileAttribution, legend } = {}) {
    this.map = L.map(element, { zoomSnap: 0.25, maxZoom: 18, minZoom: 9, attributionControl: Boolean(tileUrl), preferCanvas: false });
    if (tileUrl) L.tileLayer(tileUrl, { attribution: tileAttribution || "", maxZoom: 19 }).addTo(this.map);
    else element.classList.add("no-tiles");
    this.map.setView([22.12, 113.52], 12.5);
    this.map.createPane("land").style.zIndex = 250;
    this.map.createPane("zoneLabels").style.zIndex = 450;
    this.map.getPane("zoneLabels").style.pointerEvents = "none";
    new ResizeObserver(() => { this.map.invalidateSize(); if (!this.userMoved) this.fit(); }).observe(element);
    this.map.on("zoomstart movestart", () => { if (!this.fitting) this.userMoved = true; });
    this.map.on("zoomend moveend", () => this.declutter());
    this.base = L.layerGroup().addTo(this.map);
    this.land = L.layerGroup().addTo(this.map);
    this.catchments = L.layerGroup();
    this.labels = [];
    this.layers = {};
    for (const name of ["evac", "targets", "drawing"]) this.layers[name] = L.layerGroup().addTo(this.map);
    // markers cluster when they crowd (the count on the cluster); alarms never do: each must be seen
    this.cluster = L.markerClusterGroup
      ? L.markerClusterGroup({ maxClusterRadius: 50, showCoverageOnHover: false, iconCreateFunction: (c) => icon("cluster", `${c.getChildCount()}`) })
      : L.layerGroup();
    this.cluster.addTo(this.map);
    this.layers.alarms = L.layerGroup().addTo(this.map);
    this.zoneFeatures = new Map();
    this.control = L.control.layers(null, {}, { collapsed: true }).addTo(this.map);
    this.drawPts = null;
    this.polygon = null;
    this.legend = legend;
    this.map.on("click", (e) => this.onClick(e));
    this.loadBasemap();
    this.renderLegend();
  }

  async loadBasemap() {
    try {
      const r = await fetch("/static/dashboard/basemap.json");
      this.basemap = await r.json();
    } catch { return; }
    const styles = {
      mainland: { color: "#475569", weight: 1, fillColor: "#1f2937", fillOpacity: 1 },
      hengqin: { color: "#64748b", weight: 1.5, fillColor: "#182436", fillOpacity: 1 },
      macau: { color: "#64748b", weight: 1, fillColor: "#262f3f", fillOpacity: 1 },
      bridge: { color: "#fde68a", weight: 4, opacity: 0.9 },
    };
    for (const f of this.basemap.features) {
      const kind = f.properties.kind;
      const layer = L.geoJSON(f, { pane: kind === "bridge" ? "overlayPane" : "land", style: styles[kind], interactive: false }).addTo(this.land);
      if (kind === "hengqin") continue;  // our communities name the island's parts
      const label = L.tooltip({ pane: "zoneLabels", permanent: true, direction: "center", className: kind === "bridge" ? "bridge-label" : "land-label", interactive: false })
        .setLatLng(kind === "bridge" ? layer.getBounds().getCenter() : layer.getBounds().getCenter());
      label.feature = f;
      label.rank = kind === "bridge" ? 3 : 4;
      this.labels.push(label);
      label.addTo(this.base);
    }
    this.relabel();
  }

  renderLegend() {
    if (!this.legend) return;
    const sample = (m) => h("span", { class: `mk lg-${m.id} ${m.id === "alarm" ? "alarm" : m.id === "fac" ? "fac" : m.id}`, "aria-hidden": "true" }, m.html);
    this.legend.replaceChildren(
      ...MARKERS.map((m) => h("li", null, sample(m), " ", t(m.label))),
      h("li", null, h("span", { class: "mk cluster", "aria-hidden": "true" }, "3"), " ", t("lg_cluster")),
      h("li", null, h("span", { class: "sw evac", "aria-hidden": "true" }), " ", t("lg_evac")),
      h("li", null, h("span", { class: "sw target", "aria-hidden": "true" }), " ", t("lg_target")),
      h("li", null, h("span", { class: "sw bridge", "aria-hidden": "true" }), " ", t("lg_bridge")));
  }

  setZones(fc) {
    this.base.clearLayers();
    this.catchments.clearLayers();
    this.labels = this.labels.filter((l) => l.feature.properties.kind === "bridge" || l.feature.properties.kind === "macau" || l.feature.properties.kind === "mainland");
    for (const l of this.labels) l.addTo(this.base);
    const polys = [];
    for (const f of fc.features || []) {
      this.zoneFeatures.set(f.properties.id, f);
      if (f.geometry.type === "Point") continue;  // shelters: drawn live with occupancy
      const kind = f.properties.kind;
      if (kind === "shelter_catchment") {
        L.geoJSON(f, { style: { color: "#94a3b8", weight: 1, dashArray: "2 4", fill: false }, interactive: false }).addTo(this.catchments);
        continue;
      }
      const community = kind === "community";
      const style = community
        ? { color: "#6b8bab", weight: 1.5, fillColor: "#22344a", fillOpacity: 1 }
        : { ...(AREA_STYLE[kind] || { color: "#e2e8f0" }), weight: 2, dashArray: "6 4", fillOpacity: 0.08 };
      const layer = L.geoJSON(f, { style, interactive: false });
      if (community) polys.push(layer); else layer.addTo(this.base);
      const label = L.tooltip({ pane: "zoneLabels", permanent: true, direction: "center", offset: community ? [0, -22] : [0, 0], className: community ? "zone-label" : "area-label", interactive: false })
        .setLatLng(layer.getBounds().getCenter());
      label.feature = f;
      label.rank = community ? 1 : 2;
      this.labels.push(label);
    }
    for (const layer of polys) { layer.addTo(this.base); layer.bringToBack(); }
    for (const label of this.labels) label.addTo(this.base);
    this.control.addOverlay(this.catchments, t("shelters") + " ⌂");
    this.relabel();
    const all = L.featureGroup(polys);
    if (polys.length) { this.bounds = all.getBounds().pad(0.08); this.fit(); }
  }

  fit() {
    if (!this.bounds) return;
    this.fitting = true;
    this.map.fitBounds(this.bounds, { padding: [8, 8], animate: false });
    this.fitting = false;
    this.declutter();
  }
  invalidate() { this.map.invalidateSize(); this.userMoved = false; this.fit(); }

  relabel() {
    for (const label of this.labels) label.setContent(html(pick(label.feature.properties.name, label.feature.properties.id)));
    this.renderLegend();
    this.declutter();
  }

  /** Hide labels that would overlap a marker or a more important label. */
  declutter() {
    cancelAnimationFrame(this.declutterFrame);
    this.declutterFrame = requestAnimationFrame(() => {
      const container = this.map.getContainer();
      const taken = [...container.querySelectorAll(".leaflet-marker-icon")].map((el) => el.getBoundingClientRect());
      const overlaps = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      const box = container.getBoundingClientRect();
      for (const label of [...this.labels].sort((a, b) => a.rank - b.rank)) {
        const el = label.getElement && label.getElement();
        if (!el) continue;
        el.style.visibility = "";
        const r = el.getBoundingClientRect();
        const outside = r.left < box.left || r.right > box.right || r.top < box.top || r.bottom > box.bottom;
        if (outside || taken.some((x) => overlaps(r, x))) el.style.visibility = "hidden";
        else taken.push(r);
      }
    });
  }

  zoneName(id) { const f = this.zoneFeatures.get(id); return f ? pick(f.properties.name, id) : id; }

  /** Redraw the live overlays from the dashboard's state. */
  update(s) {
    const sit = s.situation || {};
    const L_ = this.layers;
    L_.evac.clearLayers();
    for (const o of (sit.evacuation && sit.evacuation.orders) || []) {
      const f = this.zoneFeatures.get(o.zone_id);
      if (!f) continue;
      const mandatory = o.level === "mandatory";
      L.geoJSON(f, { style: { color: mandatory ? "#ef4444" : "#f59e0b", weight: 3, fillOpacity: 0.35, fillColor: mandatory ? "#ef4444" : "#f59e0b" } })
        .bindTooltip(`${html(t("lg_evac"))}: ${html(this.zoneName(o.zone_id))} (${html(t(o.level))})`).addTo(L_.evac);
    }
    L_.targets.clearLayers();
    for (const b of s.broadcasts.values()) {
      if (!["sending", "scheduled", "awaiting_approval", "queued", "approved"].includes(b.status)) continue;
      const style = { color: "#22d3ee", weight: 3, dashArray: "8 6", fillColor: "#22d3ee", fillOpacity: 0.12 };
      for (const z of b.zones || []) {
        const f = this.zoneFeatures.get(z);
        if (f && f.geometry.type !== "Point") L.geoJSON(f, { style }).bindTooltip(`#${b.id}`).addTo(L_.targets);
      }
      if (b.area) L.geoJSON(b.area, { style }).bindTooltip(`#${b.id}`).addTo(L_.targets);
    }
    this.cluster.clearLayers();
    const clustered = [];
    for (const f of (sit.facilities && sit.facilities.items) || []) {
      if (f.lat == null || f.lon == null) continue;
      clustered.push(L.marker([f.lat, f.lon], { icon: icon(`fac lvl-${f.level}`, FACILITY_ICON[f.kind] || "F"), keyboard: false })
        .bindTooltip(`${html(pick(f.name, f.id))}: ${html(pick(f.status_name, f.status))}`));
    }
    for (const sh of (sit.evacuation && sit.evacuation.shelter_list) || []) {
      if (sh.lat == null) continue;
      const ratio = sh.capacity ? sh.occupancy / sh.capacity : 0;
      const cls = !sh.is_open ? "closed" : sh.over_capacity || ratio >= 1 ? "full" : ratio >= 0.8 ? "busy" : "ok";
      clustered.push(L.marker([sh.lat, sh.lon], { icon: icon(`shelter sh-${cls}`, `⌂ ${fmtNum(sh.occupancy)}/${fmtNum(sh.capacity)}`), keyboard: false })
        .bindTooltip(`${html(pick(sh.name, sh.id))} — ${sh.is_open ? t("open") : t("closed")}`));
    }
    for (const hz of s.hazards.values()) {
      if (hz.lat == null) continue;
      clustered.push(L.marker([hz.lat, hz.lon], { icon: icon(`hazard sev-${hz.severity}${hz.overdue ? " overdue" : ""}`, "▲"), keyboard: false })
        .bindTooltip(`${html(word(hz.kind))} (${html(t("sv_" + hz.severity))})${hz.place ? " — " + html(hz.place) : ""}`));
    }
    for (const c of (sit.crews && sit.crews.items) || []) {
      if (c.lat == null || c.status === "released") continue;
      clustered.push(L.marker([c.lat, c.lon], { icon: icon(`crew cs-${c.status}`, `✚${fmtNum(c.headcount)}`), keyboard: false })
        .bindTooltip(`${html(c.name)} — ${html(t("cs_" + c.status))}`));
    }
    for (const g of s.groups.values()) {
      const trip = g.open_trip;
      if (!trip || trip.in_lat == null) continue;
      clustered.push(L.marker([trip.in_lat, trip.in_lon], { icon: icon("group", "G"), keyboard: false }).bindTooltip(html(g.name)));
    }
    if (this.cluster.addLayers) this.cluster.addLayers(clustered); else for (const m of clustered) m.addTo(this.cluster);
    L_.alarms.clearLayers();
    const wall = document.body.classList.contains("wall");
    for (const a of [...s.alarms.values(), ...(wall ? [] : s.drillAlarms.values())]) {
      if (a.lat == null) continue;
      L.marker([a.lat, a.lon], { icon: icon(`alarm al-${a.status}${a.exercise ? " ex" : ""}`, a.kind === "help" ? "SOS" : "⚠"), zIndexOffset: 1000, keyboard: false })
        .bindTooltip(`#${a.id} ${html(a.kind === "help" ? t("alarm_help") : t("alarm_hazard"))}${a.people ? " · " + html(t("n_people", { n: a.people })) : ""}`)
        .addTo(L_.alarms);
    }
    this.declutter();
  }

  // --- drawing a polygon for a broadcast ----------------------------------------------
  startDrawing(onChange) {
    this.clearDrawing();
    this.drawPts = [];
    this.onDrawChange = onChange;
    this.map.getContainer().classList.add("drawing");
    this.map.getContainer().scrollIntoView({ block: "center", behavior: "instant" });
  }

  onClick(e) {
    if (!this.drawPts) return;
    this.drawPts.push(e.latlng);
    this.redrawSketch();
  }

  redrawSketch() {
    const g = this.layers.drawing;
    g.clearLayers();
    if (this.polygon) { L.polygon(this.polygon, { color: "#facc15", weight: 3, fillOpacity: 0.15 }).addTo(g); return; }
    if (!this.drawPts) return;
    if (this.drawPts.length > 1) L.polyline(this.drawPts, { color: "#facc15", weight: 3, dashArray: "4 4" }).addTo(g);
    this.drawPts.forEach((p, i) => {
      const m = L.circleMarker(p, { radius: i === 0 ? 8 : 5, color: "#facc15", fillOpacity: 1 }).addTo(g);
      if (i === 0) m.on("click", (ev) => { L.DomEvent.stopPropagation(ev); this.finishDrawing(); });
    });
    this.onDrawChange && this.onDrawChange(this.drawPts.length, false);
  }

  finishDrawing() {
    if (!this.drawPts || this.drawPts.length < 3) return false;
    this.polygon = this.drawPts;
    this.drawPts = null;
    this.map.getContainer().classList.remove("drawing");
    this.redrawSketch();
    this.onDrawChange && this.onDrawChange(this.polygon.length, true);
    return true;
  }

  clearDrawing() {
    this.drawPts = null;
    this.polygon = null;
    this.layers.drawing.clearLayers();
    this.map.getContainer().classList.remove("drawing");
    this.onDrawChange && this.onDrawChange(0, false);
  }

  /** The drawn polygon as GeoJSON (lon, lat; ring closed), or null. */
  drawnArea() {
    if (!this.polygon) return null;
    const ring = this.polygon.map((p) => [Number(p.lng.toFixed(6)), Number(p.lat.toFixed(6))]);
    ring.push(ring[0]);
    return { type: "Polygon", coordinates: [ring] };
  }
}
