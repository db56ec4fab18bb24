// The Hengqin map: our own zones (GET /api/v1/zones) as GeoJSON layers on Leaflet, with no
// tile layer unless TYPHOON_MAP_TILE_URL is set, so it works with no internet. Overlays:
// evacuation zones, broadcast targets, shelters with occupancy, open hazards, crews,
// inspection groups, facilities; and a polygon drawn by clicks for a broadcast's area.
import { pick, t, fmtNum } from "./i18n.js";

const L = window.L;
const AREA_STYLE = {
  port: { color: "#7dd3fc" }, housing: { color: "#c4b5fd" }, campus: { color: "#86efac" },
  low_lying: { color: "#fb923c" },
};
const FACILITY_ICON = { bridge: "B", port: "P", school: "S", shuttle_bus: "Bus", neighbourhood: "N" };

function html(s) { return String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`); }

export class HengqinMap {
  static available() { return Boolean(L); }

  constructor(element, { tileUrl, tileAttribution } = {}) {
    this.map = L.map(element, { zoomSnap: 0.25, attributionControl: Boolean(tileUrl), preferCanvas: false });
    if (tileUrl) L.tileLayer(tileUrl, { attribution: tileAttribution || "", maxZoom: 19 }).addTo(this.map);
    else element.classList.add("no-tiles");
    this.map.setView([22.12, 113.52], 12.5);
    // Zone names under the markers (tooltips are above them by default).
    this.map.createPane("zoneLabels").style.zIndex = 450;
    this.map.getPane("zoneLabels").style.pointerEvents = "none";
    new ResizeObserver(() => { this.map.invalidateSize(); if (!this.userMoved) this.fit(); }).observe(element);
    this.map.on("zoomstart movestart", (e) => { if (!this.fitting) this.userMoved = true; });
    this.base = L.layerGroup().addTo(this.map);
    this.catchments = L.layerGroup();
    this.labels = [];
    this.layers = {};
    for (const name of ["evac", "targets", "facilities", "shelters", "hazards", "crews", "groups", "drawing"]) {
      this.layers[name] = L.layerGroup().addTo(this.map);
    }
    this.zoneFeatures = new Map();
    this.control = L.control.layers(null, {}, { collapsed: true }).addTo(this.map);
    this.drawPts = null;
    this.polygon = null;
    this.map.on("click", (e) => this.onClick(e));
  }

  setZones(fc) {
    this.base.clearLayers();
    this.catchments.clearLayers();
    this.labels = [];
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
      // Community names a little above the middle, where the shelter marker usually sits.
      const label = L.tooltip({ pane: "zoneLabels", permanent: true, direction: "center", offset: community ? [0, -22] : [0, 0], className: community ? "zone-label" : "area-label", interactive: false })
        .setLatLng(layer.getBounds().getCenter());
      label.feature = f;
      this.labels.push(label);
    }
    // Communities first (land), areas over them.
    for (const layer of polys) { layer.addTo(this.base); layer.bringToBack(); }
    for (const label of this.labels) label.addTo(this.base);
    this.control.addOverlay(this.catchments, t("shelters") + " ⌂");
    this.relabel();
    const all = L.featureGroup(polys);
    if (polys.length) { this.bounds = all.getBounds(); this.fit(); }
  }

  fit() {
    if (!this.bounds) return;
    this.fitting = true;
    this.map.fitBounds(this.bounds, { padding: [8, 8], animate: false });
    this.fitting = false;
  }
  invalidate() { this.map.invalidateSize(); this.userMoved = false; this.fit(); }

  relabel() {
    for (const label of this.labels) label.setContent(html(pick(label.feature.properties.name, label.feature.properties.id)));
  }

  zoneName(id) { const f = this.zoneFeatures.get(id); return f ? pick(f.properties.name, id) : id; }

  /** Redraw the live overlays from the dashboard's state. */
  update(s) {
    const sit = s.situation || {};
    const L_ = this.layers;
    // evacuation zones
    L_.evac.clearLayers();
    for (const o of (sit.evacuation && sit.evacuation.orders) || []) {
      const f = this.zoneFeatures.get(o.zone_id);
      if (!f) continue;
      const mandatory = o.level === "mandatory";
      L.geoJSON(f, { style: { color: mandatory ? "#ef4444" : "#f59e0b", weight: 3, fillOpacity: 0.35, fillColor: mandatory ? "#ef4444" : "#f59e0b" } })
        .bindTooltip(`${html(t("lg_evac"))}: ${html(this.zoneName(o.zone_id))} (${html(t(o.level))})`).addTo(L_.evac);
    }
    // broadcast targets of broadcasts not finished
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
    // facilities
    L_.facilities.clearLayers();
    for (const f of (sit.facilities && sit.facilities.items) || []) {
      if (f.lat == null || f.lon == null) continue;
      L.marker([f.lat, f.lon], { icon: L.divIcon({ className: `mk fac lvl-${f.level}`, html: FACILITY_ICON[f.kind] || "F", iconSize: null }) })
        .bindTooltip(`${html(pick(f.name, f.id))}: ${html(pick(f.status_name, f.status))}`).addTo(L_.facilities);
    }
    // shelters with occupancy
    L_.shelters.clearLayers();
    for (const sh of (sit.evacuation && sit.evacuation.shelter_list) || []) {
      if (sh.lat == null) continue;
      const ratio = sh.capacity ? sh.occupancy / sh.capacity : 0;
      const cls = !sh.is_open ? "closed" : sh.over_capacity || ratio >= 1 ? "full" : ratio >= 0.8 ? "busy" : "ok";
      L.marker([sh.lat, sh.lon], { icon: L.divIcon({ className: `mk shelter sh-${cls}`, html: `⌂ ${fmtNum(sh.occupancy)}/${fmtNum(sh.capacity)}`, iconSize: null }) })
        .bindTooltip(`${html(pick(sh.name, sh.id))} — ${sh.is_open ? t("open") : t("closed")}`).addTo(L_.shelters);
    }
    // open hazards
    L_.hazards.clearLayers();
    for (const h of s.hazards.values()) {
      if (h.lat == null) continue;
      L.marker([h.lat, h.lon], { icon: L.divIcon({ className: `mk hazard sev-${h.severity}${h.overdue ? " overdue" : ""}`, html: "▲", iconSize: null }) })
        .bindTooltip(`${html(h.kind)} (${html(h.severity)})${h.place ? " — " + html(h.place) : ""}`).addTo(L_.hazards);
    }
    // crews
    L_.crews.clearLayers();
    for (const c of (sit.crews && sit.crews.items) || []) {
      if (c.lat == null || c.status === "released") continue;
      L.marker([c.lat, c.lon], { icon: L.divIcon({ className: `mk crew cs-${c.status}`, html: `✚${fmtNum(c.headcount)}`, iconSize: null }) })
        .bindTooltip(`${html(c.name)} — ${html(t("cs_" + c.status))}`).addTo(L_.crews);
    }
    // inspection groups on patrol (where their trip checked in)
    L_.groups.clearLayers();
    for (const g of s.groups.values()) {
      const trip = g.open_trip;
      if (!trip || trip.in_lat == null) continue;
      L.marker([trip.in_lat, trip.in_lon], { icon: L.divIcon({ className: "mk group", html: "G", iconSize: null }) })
        .bindTooltip(html(g.name)).addTo(L_.groups);
    }
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
