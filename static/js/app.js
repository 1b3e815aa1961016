// htmx response handling, set once: validation errors (4xx; 413 for an upload too large) swap their
// re-rendered form partial, server errors show the alert partial the app sends. Nothing here is inline,
// so the CSP stays strict.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status === 400 || status === 401 || status === 403 || status === 404 || status === 409 ||
      status === 410 || status === 413 || status === 422 || status === 429 || status >= 500) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy-target]");
  if (!button) return;
  var source = document.querySelector(button.getAttribute("data-copy-target"));
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.value || source.textContent);
  }
});

// Share kit: a share intent is a real link (it opens the platform's own share page in a new tab); its
// click also submits the hidden htmx form that logs the share (a POST with the CSRF header).
document.addEventListener("click", function (event) {
  var link = event.target.closest("a[data-share-log]");
  if (!link || !window.htmx) return;
  var form = document.getElementById(link.getAttribute("data-share-log"));
  if (form) window.htmx.trigger(form, "submit");
});
