// Report "opened" only on a human action: a tap on an image, a play, a download. Mail scanners
// that prefetch the link load the HTML but never run this, so they never count as opened.
(function () {
  "use strict";
  const root = document.getElementById("landing");
  if (!root) return;
  let sent = false;
  function opened() {
    if (sent) return;
    sent = true;
    fetch(root.dataset.openedUrl, { method: "POST", credentials: "same-origin", keepalive: true })
      .catch(() => { sent = false; });
  }
  document.querySelectorAll("video").forEach((video) => video.addEventListener("play", opened, { once: true }));
  document.querySelectorAll("a.view, a.button").forEach((link) => link.addEventListener("click", opened));
})();
