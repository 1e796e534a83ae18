/* Shared helpers: API calls with plain-language errors, DOM building, formatting. */
"use strict";

const ST = (() => {
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function showTokenPanel() {
    const panel = document.getElementById("token-panel");
    if (panel && panel.hidden) {
      panel.hidden = false;
      const input = document.getElementById("token-input");
      if (input) input.focus();
    }
  }

  async function api(path, opts = {}) {
    const headers = Object.assign({ "X-Requested-With": "seethrough" }, opts.headers || {});
    let resp;
    try {
      resp = await fetch(path, Object.assign({}, opts, { headers, credentials: "same-origin" }));
    } catch (e) {
      throw new ApiError(0, "network", "The server cannot be reached. Check that seethrough is still running.");
    }
    if (resp.status === 401) showTokenPanel();
    if (!resp.ok) {
      let body = null;
      try { body = await resp.json(); } catch (e) { /* not JSON */ }
      const err = (body && body.error) || {};
      throw new ApiError(resp.status, err.code || "error",
        err.message || `The server answered with an error (${resp.status}).`);
    }
    if (resp.status === 204) return null;
    return resp.json();
  }

  /** el("p", {class: "x", text: "hi"}, child1, child2) */
  function el(tag, attrs, ...children) {
    const svg = ["svg", "g", "path", "rect", "circle", "line", "text", "title", "polyline", "tspan"].includes(tag);
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // Verdict and region words come from the server (seethrough.facts), defined once for pages and reports.
  const FACTS = JSON.parse(document.getElementById("facts").textContent);
  const VERDICT_LABEL = FACTS.verdict_labels;

  function badge(verdict, large) {
    const label = VERDICT_LABEL[verdict] || "—";
    return el("span", { class: `badge badge-${verdict || "none"}${large ? " badge-lg" : ""}`, text: label });
  }

  function statusBadge(row) {
    if (row.status === "done" && row.analysis_status === "ok") return badge(row.verdict);
    const map = {
      queued: ["Waiting", "badge-none"], running: ["Running", "badge-none"],
      failed: ["Failed", "badge-error"], done: ["No face", "badge-none"],
    };
    const [text, cls] = map[row.status] || [row.status, "badge-none"];
    return el("span", { class: `badge ${cls}`, text });
  }

  // How a probability is written: the same rules as seethrough.facts.pct / overall_pct (the narrator,
  // the reports and the CLI), so a page never shows 70% where the report says 69.5%. Tested identical.
  function halfUp(x, d) { const s = 10 ** d; return Math.floor(x * s + 0.5) / s; }
  function pct(p, decimals) {
    if (p === null || p === undefined || Number.isNaN(p)) return "—";
    const v = 100 * p;
    if (decimals === undefined) {
      if (v >= 0.5 && v < 99.5) decimals = 0;
      else if (v >= 0.05 && v < 99.95) decimals = 1;
      else if (v >= 99.95) return "more than 99.9%";
      else return "less than 0.1%";
    }
    return `${halfUp(v, decimals).toFixed(decimals)}%`;
  }
  function overallPct(p, thresholds) {
    let shown = pct(p);
    if (!thresholds || !/^[0-9]/.test(shown)) return shown;
    for (const decimals of [0, 1, 2]) {
      shown = decimals ? pct(p, decimals) : pct(p);
      const clash = Object.values(thresholds).some((t) => t !== null && t !== undefined && Math.abs(t - p) >= 1e-12 &&
        halfUp(100 * t, decimals) === halfUp(100 * p, decimals));
      if (!clash) return shown;
    }
    return shown;
  }

  function bytes(n) {
    if (n === null || n === undefined) return "—";
    if (n < 1e3) return `${n} B`;
    if (n < 1e6) return `${(n / 1e3).toFixed(0)} kB`;
    if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
    return `${(n / 1e9).toFixed(2)} GB`;
  }

  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  function seconds(s) {
    if (s === null || s === undefined) return "—";
    return s < 60 ? `${s.toFixed(2)} s` : `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s`;
  }

  const REGION_LABEL = FACTS.region_labels;
  function region(name) { return REGION_LABEL[name] || (name || "").replace(/_/g, " "); }
  const METHOD_LABEL = FACTS.method_labels;
  function methodLabel(name) { return METHOD_LABEL[name] || name || ""; }

  /** Plain-language advice for an error code. */
  function hint(code) {
    return {
      truncated: "The file seems incomplete: copy or download it again.",
      corrupt: "The file is damaged. Try exporting or downloading it again.",
      unsupported: "Upload a video (MP4, MOV, MKV, WebM, AVI) or an image (JPEG, PNG, WebP, BMP).",
      no_video: "The file has no picture. Upload a video or an image of a face.",
      too_large: "Shorten or compress the file, or raise the server's upload limit.",
      empty: "The file has no content. Check that it copied correctly.",
      timeout: "Try a shorter clip, or ask the administrator to raise the time limit.",
      out_of_memory: "Try a smaller or shorter file.",
      worker_crashed: "The file is probably damaged. The server itself is fine.",
      interrupted: "Submit the file again to retry.",
      no_face: "Use footage where a face is clearly visible and facing the camera.",
      face_too_small: "Use footage where the face is larger (closer to the camera, higher resolution).",
      internal: "Please try again; if it keeps happening, the server log has the details.",
    }[code] || "";
  }

  function initTokenForm() {
    const form = document.getElementById("token-form");
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const err = document.getElementById("token-error");
      err.textContent = "";
      try {
        await api("/api/session", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ token: document.getElementById("token-input").value }),
        });
        window.location.reload();
      } catch (e) {
        err.textContent = e.message;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", initTokenForm);

  return { api, ApiError, el, clear, badge, statusBadge, pct, overallPct, bytes, when, seconds, region, methodLabel, hint, VERDICT_LABEL,
    FACTS };
})();
