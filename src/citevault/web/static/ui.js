// citevault web interface: small progressive enhancement. Every page works without it.
"use strict";
(function () {
  // Copy buttons: copy the citation text to the clipboard (without scripts the link opens it).
  document.querySelectorAll("a[data-copy]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var box = document.getElementById(link.getAttribute("data-copy"));
      var status = link.parentNode.querySelector(".copied");
      if (!box || !navigator.clipboard) { return; }
      event.preventDefault();
      navigator.clipboard.writeText(box.value).then(function () {
        if (status) { status.textContent = "Copied"; }
      }, function () {
        box.focus(); box.select();
        if (status) { status.textContent = "Press Ctrl+C (or ⌘C) to copy"; }
      });
    });
  });

  // Capture progress: poll the snapshot's counts; reload for the result when it is finished.
  var section = document.querySelector("[data-progress]");
  if (!section) { return; }
  var url = section.getAttribute("data-progress");
  var delay = 1000;
  function show(name, value) {
    var el = section.querySelector('[data-field="' + name + '"]');
    if (el && value !== null && value !== undefined) { el.textContent = value; }
  }
  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (res) { if (!res.ok) { throw new Error(res.status); } return res.json(); })
      .then(function (p) {
        show("state", p.state); show("done", p.done); show("failed", p.failed);
        show("bytes", p.bytes.toLocaleString("en")); show("latest", p.latest);
        if (p.finished) { window.location.reload(); return; }
        delay = 1000;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // The service restarted or the network dropped: keep trying, less and less often.
        delay = Math.min(delay * 2, 30000);
        window.setTimeout(poll, delay);
      });
  }
  window.setTimeout(poll, delay);
})();
