// The study page polls the progress of shares that are still queued or processing, and reloads
// when one finishes, so staff see "Sent" (or the reason it failed) without pressing anything.
(function () {
  "use strict";
  const rows = Array.from(document.querySelectorAll("tr.share-row.status-queued, tr.share-row.status-processing"));
  if (!rows.length) return;
  async function poll() {
    let changed = false;
    for (const row of rows) {
      try {
        const response = await fetch(row.dataset.progressUrl, { credentials: "same-origin" });
        const body = await response.json();
        const state = row.querySelector(".share-state");
        if (body.status === "processing") {
          state.firstChild.textContent = `Processing: ${body.step} ${body.done}/${body.total} `;
        }
        if (body.status === "sent" || body.status === "failed") changed = true;
      } catch (err) { /* try again on the next tick */ }
    }
    if (changed) window.location.reload(); else setTimeout(poll, 2000);
  }
  setTimeout(poll, 1500);
})();
