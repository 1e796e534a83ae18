/* History page: search, list and delete past analyses. */
"use strict";

(() => {
  const { el, api, clear, pct, statusBadge } = ST;
  const form = document.getElementById("search-form");
  const body = document.querySelector("#history tbody");
  const more = document.getElementById("more");
  const count = document.getElementById("history-count");
  const empty = document.getElementById("history-empty");
  const errorBox = document.getElementById("history-error");
  const PAGE = 50;
  let offset = 0, refreshTimer = null;

  function params(extra) {
    const p = new URLSearchParams();
    for (const k of ["q", "verdict", "status"]) {
      const v = form.elements[k].value.trim();
      if (v) p.set(k, v);
    }
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return p;
  }

  function row(item) {
    const del = el("button", { type: "button", class: "btn btn-small btn-danger", text: "Delete",
      "aria-label": `Delete ${item.name}` });
    const tr = el("tr", { "data-id": item.id },
      el("td", {}, el("a", { href: item.links.page, text: item.name })),
      el("td", { text: ST.when(item.created_at) }),
      el("td", { text: item.status === "running" ? item.stage_text : { queued: "Waiting", done: "Finished", failed: "Failed" }[item.status] || item.status }),
      el("td", {}, statusBadge(item)),
      el("td", { text: pct(item.fake_probability) }),
      el("td", {}, del));
    del.addEventListener("click", async () => {
      if (!window.confirm(`Delete the analysis of ${item.name}, its results and the uploaded file?`)) return;
      try {
        await api(`/api/analyses/${item.id}`, { method: "DELETE" });
        tr.remove();
        load(true);
      } catch (e) {
        errorBox.textContent = e.message;
        errorBox.hidden = false;
      }
    });
    return tr;
  }

  let latest = 0;

  async function load(reset) {
    if (reset) offset = 0;
    errorBox.hidden = true;
    const ticket = ++latest;
    let page;
    try {
      page = await api(`/api/analyses?${params({ limit: PAGE, offset })}`);
    } catch (e) {
      errorBox.textContent = e.message;
      errorBox.hidden = false;
      return;
    }
    if (ticket !== latest) return; // a newer search has started; drop this answer
    if (offset === 0) clear(body);
    for (const item of page.items) body.append(row(item));
    count.textContent = `${page.total} ${page.total === 1 ? "analysis" : "analyses"}`;
    empty.hidden = page.total !== 0;
    more.hidden = offset + page.items.length >= page.total;
    clearTimeout(refreshTimer);
    if (offset === 0 && page.items.some((i) => i.status === "queued" || i.status === "running")) {
      refreshTimer = setTimeout(() => load(true), 2000);
    }
  }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(true); });
  more.addEventListener("click", () => { offset += PAGE; load(false); });
  load(true);
})();
