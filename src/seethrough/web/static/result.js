/* Results page: verdict, narrative, timeline with frame viewer, evidence gallery, charts. */
"use strict";

(() => {
  const { el, api, clear, pct, bytes, seconds, region, methodLabel, hint } = ST;
  const root = document.getElementById("result");
  const id = root.dataset.id;
  const $ = (sel) => document.getElementById(sel);
  let summaryRow = null, doc = null, chart = null;

  function show(node, on = true) { node.hidden = !on; }

  function renderHead(row) {
    $("file-name").textContent = row.name;
    $("crumb-name").textContent = row.name;
    document.title = `${row.name} · seethrough`;
    const parts = [row.kind === "image" ? "Image" : row.kind === "video" ? "Video" : null, bytes(row.size_bytes),
      `submitted ${ST.when(row.created_at)}`].filter(Boolean);
    $("file-meta").textContent = parts.join(" · ");
    show($("delete-btn"));
  }

  function renderProgress(row) {
    show($("progress-panel"), row.status === "queued" || row.status === "running");
    $("progress-text").textContent = row.stage_text;
    $("progress-bar").value = row.progress || 0;
  }

  function renderProblem(title, message, code, tone) {
    const panel = $("problem-panel");
    panel.className = `alert alert-${tone}`;
    $("problem-title").textContent = title;
    $("problem-text").textContent = message || "";
    $("problem-hint").textContent = hint(code);
    show(panel);
  }

  function renderVerdict(d) {
    if (d.status !== "ok") return;
    const box = $("verdict-box");
    const b = $("verdict-badge");
    b.className = `badge badge-lg badge-${d.verdict}`;
    b.textContent = ST.VERDICT_LABEL[d.verdict];
    $("verdict-score").textContent = `Fake probability ${ST.overallPct(d.fake_probability, d.thresholds)} (calibrated)`;
    const gate = d.abstention || {};
    const withheld = gate.gated ? (gate.reasons || []).map((r) => r.text) : [];
    $("verdict-withheld").textContent = withheld.length ? `No verdict: ${withheld.join(" ")}` : "";
    show($("verdict-withheld"), withheld.length > 0);
    show(box);
    const th = d.thresholds;
    if (th) {
      $("thresholds").textContent = `Verdict bands: real below ${th.real_below.toFixed(2)}, fake at or above ${th.fake_above.toFixed(2)}, uncertain in between.`;
    }
  }

  // What the file says about itself (seethrough.provenance): labels and state words come from the
  // server's facts; the sentences come inside the result. Same rows as provenance/display.py.
  const PROV = ST.FACTS.provenance;
  const HEAD_LEVELS = ["declaration", "warning"];

  function provenanceRows(p) {
    const L = PROV.labels, c = p.c2pa || {}, state = c.state || "absent", rows = [];
    rows.push([L.content_credentials, PROV.c2pa_states[state] || state]);
    const s = c.signer || {};
    if (c.present && (s.organization || s.common_name)) {
      let who = [s.common_name, s.organization].filter(Boolean).join(", ");
      if (s.issuer) who += ` (certificate issued by ${s.issuer})`;
      rows.push([L.signer, who]);
    }
    if (c.present && c.claim_generator) rows.push([L.claim_generator, c.claim_generator]);
    const declared = (c.digital_source_types || []).map((t) => PROV.source_types[t.replace(/\/+$/, "").split("/").pop()] || t);
    if (declared.length) rows.push([["valid", "trusted"].includes(state) ? L.declared : L.declared_invalid, declared.join("; ")]);
    if (p.camera) rows.push([L.camera, p.camera]);
    if ((p.edited_with || []).length) rows.push([L.edited_with, p.edited_with.join(", ")]);
    if ((p.ai_hints || []).length) rows.push([L.ai_hints, p.ai_hints.join("; ")]);
    rows.push([L.gps, p.gps_present ? "present (coordinates not shown)" : "none"]);
    rows.push([L.stripped, p.stripped ? "none at all (stripped)" : "present"]);
    return rows;
  }

  function renderProvenance(d) {
    const p = d.provenance;
    const alerts = clear($("provenance-alerts"));
    show($("provenance-card"), !!p);
    if (!p) return;
    const statements = p.statements || [];
    const heads = statements.filter((s) => HEAD_LEVELS.includes(s.level))
      .sort((a, b) => HEAD_LEVELS.indexOf(a.level) - HEAD_LEVELS.indexOf(b.level));
    for (const s of heads) {
      alerts.append(el("section", { class: `alert ${s.level === "declaration" ? "alert-declaration" : "alert-error"}`,
        role: s.level === "warning" ? "alert" : "note", "data-code": s.code },
        el("strong", { text: s.level === "declaration" ? "Content Credentials: " : "Provenance warning: " }), s.text));
    }
    $("provenance-title").textContent = PROV.labels.title;
    const dl = clear($("provenance-rows"));
    for (const [k, v] of provenanceRows(p)) dl.append(el("dt", { text: k }), el("dd", { text: v }));
    const notes = clear($("provenance-notes"));
    for (const s of statements) if (!heads.includes(s)) notes.append(el("li", { text: s.text }));
    if (p.note) notes.append(el("li", { text: `Note: ${p.note}` }));
    $("provenance-unsigned").textContent = PROV.unsigned_note;
  }

  function renderNarrative(d) {
    const n = d.narrative;
    if (n && n.text) {
      $("narrative").textContent = n.text;
      let who = `Written by: ${n.engine === "template" ? "the built-in template (no language model)" : n.engine}.`;
      if (n.fallback_reason) who += ` The requested ${n.requested} was not used: ${n.fallback_reason}`;
      $("narrative-engine").textContent = who;
    } else if (d.status === "ok") {
      $("narrative").textContent = `The model rates this ${d.media && d.media.kind === "image" ? "image" : "video"} as ${ST.VERDICT_LABEL[d.verdict].toLowerCase()}, with a fake probability of ${ST.overallPct(d.fake_probability, d.thresholds)}.`;
    }
    const caveats = clear($("caveats"));
    for (const c of ((d.evidence || {}).caveats || [])) caveats.append(el("li", { text: c.text }));
  }

  function renderDownloads(row) {
    const box = clear($("downloads"));
    const labels = { pdf: "PDF report", html: "HTML report", json: "JSON data" };
    for (const fmt of ["pdf", "html", "json"]) {
      const href = row.links[fmt];
      if (href) box.append(el("a", { class: "btn btn-quiet", href, download: "", text: `Download ${labels[fmt]}` }));
    }
    for (const p of row.artefacts.problems || []) box.append(el("p", { class: "muted small", text: p }));
  }

  function frameById(index) { return (doc.frames || []).find((f) => f.index === index); }

  function selectFrame(index) {
    const f = frameById(index);
    if (!f) return;
    const viewer = $("frame-viewer");
    const img = $("frame-img");
    const available = (summaryRow.artefacts.frames || []).includes(index);
    show(viewer);
    const media = doc.media || {};
    const W = media.width || 640, H = media.height || 480;
    const overlay = clear($("frame-overlay"));
    overlay.setAttribute("viewBox", `0 0 ${W} ${H}`);
    overlay.setAttribute("preserveAspectRatio", "none");
    if (available) {
      img.src = `/api/analyses/${id}/frames/${index}`;
      img.alt = `Frame ${index} at ${f.time_s.toFixed(2)} s`;
      img.hidden = false;
    } else {
      img.hidden = true;
    }
    // Other faces first (dashed), the reported face on top.
    for (const t of doc.tracks || []) {
      if (t.reported) continue;
      for (const b of t.boxes || []) {
        if (b.index !== index) continue;
        const [x0, y0, x1, y1] = b.box;
        overlay.append(el("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: "box box-other" }));
      }
    }
    if (f.face_box) {
      const [x0, y0, x1, y1] = f.face_box;
      const v = Charts.verdictOf(f.fake_probability, doc.thresholds || { real_below: 0.35, fake_above: 0.65 });
      overlay.append(el("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: `box box-${v}` }));
    }
    const parts = [`Frame ${f.index} at ${f.time_s.toFixed(2)} s`];
    if (f.fake_probability === null || f.fake_probability === undefined) parts.push("no usable face in this frame");
    else parts.push(`fake probability ${pct(f.fake_probability)}`);
    if (f.regions) {
      const top = Object.entries(f.regions).sort((a, b) => b[1] - a[1])[0];
      if (top) parts.push(`hottest region: ${region(top[0])}`);
    }
    if (!available) parts.push("(frame image not available)");
    $("frame-caption").textContent = parts.join(" · ");
    if (chart) chart.select(index);
  }

  function renderTimeline(d) {
    chart = Charts.timeline($("timeline"), d, selectFrame);
    if (d.media && d.media.kind === "image") $("timeline-title").textContent = "The face";
    const keys = (d.evidence || {}).key_frames || [];
    const first = keys.length ? keys[0].index : ((d.frames || []).find((f) => f.fake_probability !== null) || {}).index;
    if (first !== undefined) selectFrame(first);
  }

  function renderGallery(row) {
    const items = row.artefacts.gallery || [];
    show($("gallery-card"), items.length > 0);
    const box = clear($("gallery"));
    for (const g of items) {
      const caption = `Frame ${g.index} at ${g.time_s.toFixed(2)} s · fake probability ${pct(g.fake_probability)}` +
        (g.top_region ? ` · hottest: ${region(g.top_region)}` : "");
      const card = el("figure", { class: "evidence" },
        el("div", { class: "evidence-imgs" },
          el("img", { src: g.crop_url, alt: `Heatmap on the face, frame ${g.index}`, loading: "lazy", class: "ev-crop" }),
          el("img", { src: g.frame_url, alt: `Heatmap on the whole frame ${g.index}`, loading: "lazy", class: "ev-frame" })),
        el("figcaption", {}, caption, " ",
          el("button", { type: "button", class: "link-btn", text: "Show on timeline", onclick: () => {
            selectFrame(g.index);
            $("timeline-card").scrollIntoView({ behavior: "smooth", block: "start" });
          } })));
      box.append(card);
    }
  }

  function renderRegions(d) {
    const regs = ((d.evidence || {}).regions || []).filter((r) => typeof r.score === "number");
    show($("regions-card"), regs.length > 0);
    if (!regs.length) return;
    const top = new Set((d.evidence || {}).top_regions || []);
    Charts.bars($("regions"), regs.map((r) => ({ label: region(r.name), value: r.score, cls: top.has(r.name) ? "bar-hot" : "" })),
      { label: "Grad-CAM heat per facial region", reference: 1, referenceLabel: "face average", labelWidth: 190 });
  }

  function renderMethod(d) {
    const m = d.method;
    show($("method-card"), !!(m && m.probabilities && d.verdict !== "real"));
    if (!m || !m.probabilities) return;
    $("method-note").textContent = `Most similar to ${methodLabel(m.predicted)}. ${m.note ? m.note.charAt(0).toUpperCase() + m.note.slice(1) + "." : ""}`;
    const rows = Object.entries(m.probabilities).sort((a, b) => b[1] - a[1])
      .map(([k, v]) => ({ label: methodLabel(k), value: v, cls: k === m.predicted ? "bar-hot" : "" }));
    Charts.bars($("methods"), rows, { max: 1, label: "Probability per manipulation family", format: (v) => `${Math.round(v * 100)} %` });
  }

  function renderTracks(d) {
    const tracks = d.tracks || [];
    show($("tracks-card"), tracks.length > 1);
    const body = clear($("tracks").querySelector("tbody"));
    for (const t of tracks) {
      body.append(el("tr", {},
        el("td", { text: `Face ${t.track_id + 1}${t.reported ? " (reported)" : ""}` }),
        el("td", { text: t.n_frames }),
        el("td", { text: t.first_s !== undefined ? `${seconds(t.first_s)} – ${seconds(t.last_s)}` : "—" }),
        el("td", { text: t.median_face_px ? Math.round(t.median_face_px) : "—" }),
        el("td", { text: pct(t.fake_probability) }),
        el("td", {}, ST.badge(t.verdict))));
    }
  }

  function renderDetails(d, row) {
    const dl = clear($("details"));
    const add = (k, v) => { if (v !== null && v !== undefined && v !== "") dl.append(el("dt", { text: k }), el("dd", { text: v })); };
    const m = d.media || {};
    if (m.kind) add("Media", [m.kind, m.container, m.codec].filter(Boolean).join(", "));
    if (m.width) add("Resolution", `${m.width} × ${m.height}${m.rotation ? ` (rotated ${m.rotation}°)` : ""}`);
    if (m.kind === "video") {
      add("Duration", seconds(m.duration_s));
      add("Frame rate", m.fps ? `${m.fps.toFixed(2)} fps` : null);
      add("Frames", m.frame_count);
    }
    const scored = (d.frames || []).filter((f) => f.fake_probability !== null).length;
    add("Frames analysed", `${(d.frames || []).length} sampled, ${scored} with a usable face`);
    const fp = (d.evidence || {}).face_px;
    if (fp && fp.median) add("Face size", `${Math.round(fp.median)} px (smallest ${Math.round(fp.min)} px)`);
    const model = d.model || {};
    if (model.name) add("Model", `${model.name}${model.version ? " " + model.version : ""} (${[model.backbone, model.temporal].filter(Boolean).join(" + ")})`);
    if (d.timings_ms && d.timings_ms.total) add("Analysis time", seconds(d.timings_ms.total / 1000));
    add("File size", bytes(row.size_bytes));
    add("SHA-256", row.sha256);
    add("seethrough", `${d.seethrough_version} (result schema ${d.schema_version})`);
  }

  function renderDoc(row, d) {
    renderProvenance(d);
    renderVerdict(d);
    renderDownloads(row);
    renderDetails(d, row);
    show($("result-body"));
    if (d.status === "ok") {
      renderNarrative(d);
      renderTimeline(d);
      renderGallery(row);
      renderRegions(d);
      renderMethod(d);
      renderTracks(d);
    } else {
      const noFace = d.status === "no_face";
      const title = d.error_code === "face_too_small" ? "The face is too small to analyse"
        : noFace ? "No face found" : "We could not analyse this file";
      renderProblem(title, d.message, d.error_code, noFace ? "warn" : "error");
      renderNarrative(d);
      for (const c of ["timeline-card", "gallery-card", "regions-card", "method-card", "tracks-card"]) show($(c), false);
    }
  }

  async function load() {
    let row;
    try {
      row = await api(`/api/analyses/${id}`);
    } catch (e) {
      if (e.status === 404) { $("file-name").textContent = "Not found"; renderProblem("This analysis does not exist", e.message, "", "error"); return; }
      $("file-name").textContent = "Analysis";
      renderProblem("The results cannot be shown right now", e.message, "", "error");
      setTimeout(load, 2000);
      return;
    }
    summaryRow = row;
    renderHead(row);
    renderProgress(row);
    if (row.status === "queued" || row.status === "running") { setTimeout(load, 500); return; }
    if (row.links.result) {
      try {
        doc = await api(row.links.result);
      } catch (e) {
        renderProblem("The results cannot be shown right now", e.message, e.code, "error");
        return;
      }
      renderDoc(row, doc);
    } else {
      const err = row.error || {};
      renderProblem("We could not analyse this file", err.message, err.code, "error");
    }
  }

  $("delete-btn").addEventListener("click", async () => {
    if (!window.confirm("Delete this analysis, its results and the uploaded file?")) return;
    try {
      await api(`/api/analyses/${id}`, { method: "DELETE" });
      window.location.href = "/history";
    } catch (e) {
      renderProblem("The analysis could not be deleted", e.message, e.code, "error");
    }
  });

  load();
})();
