// A hand-written SVG chart of a broadcast's delivery rate over time (no chart library).
const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Draw `points` ([{t, rate}]) into `svg`, last `windowMs` of them, with the peak and now. */
export function rateChart(svg, points, { windowMs = 10 * 60 * 1000, unit = "/s" } = {}) {
  const w = 600, h = 160, padL = 44, padR = 8, padT = 10, padB = 20;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  const now = points.length ? points[points.length - 1].t : Date.now();
  const pts = points.filter((p) => p.t >= now - windowMs);
  // From the first point, over at least a minute, so the line grows from the left.
  const t0 = pts.length ? pts[0].t : now - 60_000;
  const span = Math.max(60_000, now - t0);
  const max = Math.max(1, ...pts.map((p) => p.rate));
  const top = niceCeil(max);
  const x = (t) => padL + ((t - t0) / span) * (w - padL - padR);
  const y = (v) => h - padB - (v / top) * (h - padT - padB);
  for (const v of [0, top / 2, top]) {
    svg.append(el("line", { x1: padL, x2: w - padR, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(el("text", { x: padL - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmt(v)));
  }
  if (pts.length >= 2) {
    const line = pts.map((p) => `${x(p.t).toFixed(1)},${y(p.rate).toFixed(1)}`).join(" ");
    svg.append(el("polygon", { points: `${x(pts[0].t)},${y(0)} ${line} ${x(pts[pts.length - 1].t)},${y(0)}`, class: "area" }));
    svg.append(el("polyline", { points: line, class: "line" }));
  }
  const last = pts[pts.length - 1];
  if (last) {
    const right = x(last.t) > w - 90;
    svg.append(el("text", { x: right ? x(last.t) - 4 : x(last.t) + 4, y: Math.max(padT + 12, y(last.rate) - 6),
      class: "axis now", "text-anchor": right ? "end" : "start" }, `${fmt(last.rate)}${unit}`));
  }
  svg.append(el("text", { x: w - padR, y: h - 4, class: "axis", "text-anchor": "end" },
    `${Math.round(span / 60_000)} min`));
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(v) { return v >= 100 ? Math.round(v).toString() : (Math.round(v * 10) / 10).toString(); }
