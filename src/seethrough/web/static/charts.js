/* Charts drawn as inline SVG: the per-frame timeline and horizontal bar charts. */
"use strict";

const Charts = (() => {
  const { el } = ST;

  function verdictOf(p, th) {
    if (p === null || p === undefined) return "none";
    if (p >= th.fake_above) return "fake";
    if (p < th.real_below) return "real";
    return "uncertain";
  }

  /**
   * Timeline of per-frame fake probabilities.
   * doc: the analysis JSON; onSelect(frameIndex) is called when a point is chosen.
   */
  function timeline(container, doc, onSelect) {
    const W = 760, H = 260, L = 46, R = 14, T = 14, B = 40;
    const th = doc.thresholds || { real_below: 0.35, fake_above: 0.65 };
    const frames = doc.frames || [];
    const ev = doc.evidence || {};
    const keyIdx = new Set((ev.key_frames || []).map((k) => k.index));
    const times = frames.map((f) => f.time_s);
    const tMax = Math.max(doc.media && doc.media.duration_s ? doc.media.duration_s : 0, ...times, 0.001);
    const x = (t) => L + (W - L - R) * (t / tMax);
    const y = (p) => T + (H - T - B) * (1 - p);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline", role: "group",
      "aria-label": "Fake probability of each sampled frame over time" });

    // Verdict bands.
    svg.append(
      el("rect", { x: L, y: y(1), width: W - L - R, height: y(th.fake_above) - y(1), class: "band band-fake" }),
      el("rect", { x: L, y: y(th.fake_above), width: W - L - R, height: y(th.real_below) - y(th.fake_above), class: "band band-uncertain" }),
      el("rect", { x: L, y: y(th.real_below), width: W - L - R, height: y(0) - y(th.real_below), class: "band band-real" }),
    );
    for (const seg of ev.suspicious_segments || []) {
      const x0 = x(seg.start_s), x1 = Math.max(x(seg.end_s), x0 + 3);
      svg.append(el("rect", { x: x0, y: y(1), width: x1 - x0, height: y(0) - y(1), class: "segment" },
        el("title", { text: `Suspicious from ${seg.start_s.toFixed(2)} s to ${seg.end_s.toFixed(2)} s (peak ${seg.peak_probability.toFixed(2)})` })));
    }
    // Axes and grid.
    for (const p of [0, 0.25, 0.5, 0.75, 1]) {
      svg.append(el("line", { x1: L, x2: W - R, y1: y(p), y2: y(p), class: "grid" }),
        el("text", { x: L - 8, y: y(p) + 4, class: "tick", "text-anchor": "end", text: p.toFixed(2) }));
    }
    const nTicks = 6;
    for (let i = 0; i <= nTicks; i++) {
      const t = (tMax * i) / nTicks;
      svg.append(el("text", { x: x(t), y: H - B + 18, class: "tick", "text-anchor": "middle", text: `${t.toFixed(1)} s` }));
    }
    svg.append(el("text", { x: (L + W - R) / 2, y: H - 4, class: "axis-label", "text-anchor": "middle", text: "time in the video" }));

    // Line through consecutive scored frames.
    let pathD = "", pen = false;
    for (const f of frames) {
      if (f.fake_probability === null || f.fake_probability === undefined) { pen = false; continue; }
      pathD += `${pen ? "L" : "M"}${x(f.time_s).toFixed(1)},${y(f.fake_probability).toFixed(1)} `;
      pen = true;
    }
    if (pathD) svg.append(el("path", { d: pathD, class: "trace" }));

    const points = [];
    for (const f of frames) {
      const p = f.fake_probability;
      const label = p === null || p === undefined
        ? `Frame ${f.index} at ${f.time_s.toFixed(2)} s: no usable face`
        : `Frame ${f.index} at ${f.time_s.toFixed(2)} s: fake probability ${p.toFixed(2)}${keyIdx.has(f.index) ? " (key frame)" : ""}`;
      const g = el("g", { class: `pt pt-${verdictOf(p, th)}${keyIdx.has(f.index) ? " pt-key" : ""}`, tabindex: "0",
        role: "button", "aria-label": label, "data-index": f.index });
      if (p === null || p === undefined) {
        g.append(el("rect", { x: x(f.time_s) - 2, y: y(0) - 8, width: 4, height: 8, class: "noface" }));
        g.append(el("rect", { x: x(f.time_s) - 7, y: y(0) - 16, width: 14, height: 18, class: "hit" }));
      } else {
        if (keyIdx.has(f.index)) g.append(el("circle", { cx: x(f.time_s), cy: y(p), r: 9, class: "ring" }));
        g.append(el("circle", { cx: x(f.time_s), cy: y(p), r: 5, class: "dot" }));
        g.append(el("circle", { cx: x(f.time_s), cy: y(p), r: 11, class: "hit" }));
      }
      g.append(el("title", { text: label }));
      const choose = () => {
        for (const q of points) q.classList.remove("selected");
        g.classList.add("selected");
        onSelect(f.index);
      };
      g.addEventListener("click", choose);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
      points.push(g);
      svg.append(g);
    }
    ST.clear(container).append(svg);
    return {
      select(index) {
        const g = points.find((q) => Number(q.dataset.index) === index);
        if (g) { for (const q of points) q.classList.remove("selected"); g.classList.add("selected"); }
      },
    };
  }

  /** Horizontal bars: rows [{label, value, cls}], max value, optional reference line. */
  function bars(container, rows, opts = {}) {
    const W = 420, rowH = 26, L = opts.labelWidth || 170, R = 52, T = 6;
    const H = T + rows.length * rowH + 18;
    const max = opts.max || Math.max(...rows.map((r) => r.value), opts.reference !== undefined ? opts.reference * 1.15 : 1e-6);
    const x = (v) => L + (W - L - R) * Math.min(v / max, 1);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "bars", role: "img", "aria-label": opts.label || "bar chart" });
    rows.forEach((r, i) => {
      const yy = T + i * rowH;
      svg.append(
        el("text", { x: L - 8, y: yy + 16, class: "bar-label", "text-anchor": "end", text: r.label }),
        el("rect", { x: L, y: yy + 4, width: Math.max(x(r.value) - L, 1), height: rowH - 10, class: `bar ${r.cls || ""}` }),
        el("text", { x: x(r.value) + 6, y: yy + 16, class: "bar-value", text: opts.format ? opts.format(r.value) : r.value.toFixed(2) }),
      );
    });
    if (opts.reference !== undefined && opts.reference <= max) {
      const xr = x(opts.reference);
      svg.append(el("line", { x1: xr, x2: xr, y1: T, y2: T + rows.length * rowH, class: "ref" }),
        el("text", { x: xr, y: H - 4, class: "tick", "text-anchor": "middle", text: opts.referenceLabel || String(opts.reference) }));
    }
    ST.clear(container).append(svg);
  }

  return { timeline, bars, verdictOf };
})();
