/* Upload page: drag-and-drop or file picker, several files, live progress per file. */
"use strict";

(() => {
  const { el, api, badge, bytes, pct } = ST;
  const queue = document.getElementById("queue");
  const section = document.getElementById("queue-section");
  const dropzone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  const rerun = document.getElementById("rerun");
  const MAX_PARALLEL_UPLOADS = 2;
  const POLL_MS = 500;
  const pending = [];
  let active = 0;

  function makeItem(file) {
    const text = el("span", { class: "q-text", text: "Waiting to upload" });
    const bar = el("progress", { max: "1", value: "0", "aria-label": `Progress of ${file.name}` });
    const result = el("div", { class: "q-result" });
    const li = el("li", { class: "q-item", "data-state": "pending" },
      el("div", { class: "q-main" }, el("span", { class: "q-name", text: file.name }),
        el("span", { class: "q-size muted", text: bytes(file.size) })),
      el("div", { class: "q-status" }, text, bar),
      result);
    queue.prepend(li);
    section.hidden = false;
    return { file, li, text, bar, result, id: null };
  }

  function setState(item, state, message, progress) {
    item.li.dataset.state = state;
    if (message !== undefined) item.text.textContent = message;
    if (progress !== undefined) item.bar.value = progress;
  }

  function fail(item, message) {
    setState(item, "failed", "Could not analyse this file", 0);
    item.bar.hidden = true;
    ST.clear(item.result).append(el("p", { class: "q-error", role: "alert", text: message }));
  }

  function finish(item, row) {
    item.bar.hidden = true;
    ST.clear(item.result);
    const link = el("a", { class: "btn btn-small", href: row.links.page, text: "See the results" });
    if (row.status === "failed") {
      fail(item, (row.error && row.error.message) || "The analysis failed.");
      if (row.links.result) item.result.append(link);
      return;
    }
    if (row.analysis_status === "ok") {
      setState(item, "done", `Finished${row.reused ? " (analysed before)" : ""}`);
      item.result.append(badge(row.verdict), " ",
        el("span", { class: "muted", text: `fake probability ${pct(row.fake_probability)}` }), " ", link);
    } else {
      setState(item, "done", "Finished: no usable face");
      item.result.append(el("span", { class: "muted", text: (row.error && row.error.message) || "" }), " ", link);
    }
  }

  async function poll(item) {
    try {
      const row = await api(`/api/analyses/${item.id}`);
      if (row.status === "done" || row.status === "failed") return finish(item, row);
      setState(item, row.status, row.stage_text, 0.05 + 0.95 * (row.progress || 0));
    } catch (e) {
      if (e.status === 404) return fail(item, "This analysis was deleted.");
      setState(item, item.li.dataset.state, `${e.message} Retrying…`);
    }
    setTimeout(() => poll(item), POLL_MS);
  }

  function upload(item) {
    return new Promise((resolve) => {
      const form = new FormData();
      form.append("file", item.file, item.file.name);
      form.append("rerun", rerun.checked ? "true" : "false");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/analyses");
      xhr.setRequestHeader("X-Requested-With", "seethrough");
      xhr.responseType = "json";
      setState(item, "uploading", "Uploading", 0);
      xhr.upload.addEventListener("progress", (ev) => {
        if (ev.lengthComputable) setState(item, "uploading", `Uploading ${Math.round(100 * ev.loaded / ev.total)} %`, 0.05 * ev.loaded / ev.total);
      });
      xhr.addEventListener("load", () => {
        const body = xhr.response || {};
        if (xhr.status === 200 || xhr.status === 202) {
          item.id = body.id;
          item.li.dataset.id = body.id;
          if (body.status === "done" || body.status === "failed") finish(item, body);
          else { setState(item, "queued", body.stage_text || "Waiting for a free worker", 0.05); poll(item); }
        } else {
          if (xhr.status === 401) document.getElementById("token-panel").hidden = false;
          fail(item, (body.error && body.error.message) || `The server refused the file (${xhr.status}).`);
        }
        resolve();
      });
      xhr.addEventListener("error", () => { fail(item, "The upload failed: the server cannot be reached."); resolve(); });
      xhr.addEventListener("abort", () => { fail(item, "The upload was cancelled."); resolve(); });
      xhr.send(form);
    });
  }

  function pump() {
    while (active < MAX_PARALLEL_UPLOADS && pending.length) {
      const item = pending.shift();
      active += 1;
      upload(item).finally(() => { active -= 1; pump(); });
    }
  }

  function addFiles(files) {
    for (const f of files) pending.push(makeItem(f));
    pump();
  }

  input.addEventListener("change", () => { addFiles(Array.from(input.files)); input.value = ""; });
  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (ev) => { ev.preventDefault(); dropzone.classList.add("dragging"); });
  }
  for (const name of ["dragleave", "drop"]) {
    dropzone.addEventListener(name, (ev) => { ev.preventDefault(); dropzone.classList.remove("dragging"); });
  }
  dropzone.addEventListener("drop", (ev) => {
    if (ev.dataTransfer && ev.dataTransfer.files.length) addFiles(Array.from(ev.dataTransfer.files));
  });
  // Dropping a file anywhere else must not navigate away from the page.
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => ev.preventDefault());
})();
