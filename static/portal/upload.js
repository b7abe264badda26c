// Drag and drop of files, folders and ZIPs onto the study list. Files are sent in small batches so
// a large folder shows progress and one bad file never blocks the rest.
(function () {
  "use strict";
  const zone = document.getElementById("dropzone");
  if (!zone) return;
  const status = document.getElementById("upload-status");
  const url = zone.dataset.uploadUrl;
  const csrf = zone.dataset.csrf;
  const BATCH_FILES = 25;
  const BATCH_BYTES = 64 * 1024 * 1024;

  function say(text, cls) {
    status.textContent = text;
    status.className = cls || "";
  }

  function readEntries(reader) {
    return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
  }

  async function walk(entry, out) {
    if (entry.isFile) {
      out.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      let batch;
      do {
        batch = await readEntries(reader);
        for (const child of batch) await walk(child, out);
      } while (batch.length);
    }
  }

  function batches(files) {
    const out = [];
    let current = [], bytes = 0;
    for (const f of files) {
      if (current.length && (current.length >= BATCH_FILES || bytes + f.size > BATCH_BYTES)) {
        out.push(current); current = []; bytes = 0;
      }
      current.push(f); bytes += f.size;
    }
    if (current.length) out.push(current);
    return out;
  }

  async function upload(files) {
    files = files.filter((f) => !f.name.startsWith("."));
    if (!files.length) { say("Nothing to upload.", "error"); return; }
    const clinic = document.getElementById("upload-clinic");
    let accepted = 0, sent = 0;
    const rejected = [];
    zone.classList.add("busy");
    for (const group of batches(files)) {
      const form = new FormData();
      for (const f of group) form.append("files", f, f.name);
      if (clinic) form.append("clinic", clinic.value);
      say(`Uploading ${sent + group.length} of ${files.length} files…`);
      try {
        const response = await fetch(url, { method: "POST", body: form, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) {
          rejected.push(...group.map((f) => ({ file: f.name, reason: body.error || `server answered ${response.status}` })));
        } else {
          accepted += body.accepted || 0;
          rejected.push(...(body.rejected || []));
        }
      } catch (err) {
        rejected.push(...group.map((f) => ({ file: f.name, reason: "network error, try again" })));
      }
      sent += group.length;
    }
    zone.classList.remove("busy");
    let text = `${accepted} file${accepted === 1 ? "" : "s"} added.`;
    if (rejected.length) {
      text += ` ${rejected.length} not added: ` + rejected.slice(0, 5).map((r) => `${r.file} (${r.reason})`).join("; ");
      if (rejected.length > 5) text += "…";
    }
    say(text, rejected.length ? "warn" : "ok");
    if (accepted) setTimeout(() => window.location.reload(), rejected.length ? 4000 : 800);
  }

  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const files = [];
    const items = Array.from(e.dataTransfer.items || []);
    const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null)).filter(Boolean);
    if (entries.length) {
      for (const entry of entries) await walk(entry, files);
    } else {
      files.push(...Array.from(e.dataTransfer.files));
    }
    upload(files);
  });
  for (const id of ["file-input", "folder-input"]) {
    const input = document.getElementById(id);
    if (input) input.addEventListener("change", () => { upload(Array.from(input.files)); input.value = ""; });
  }
})();
