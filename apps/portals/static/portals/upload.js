/* The files page's upload with a progress bar (apps/portals/views/files.py).
 *
 * Sends the upload form (data-upload-form) with XMLHttpRequest, so its upload progress events can move
 * the <progress> bar (its value attribute: the CSP allows no inline style) and the percentage beside it.
 * It asks for JSON (Accept: application/json) and the server answers {"redirect": url} once the file is
 * stored (the list then shows the message) or {"error": message} with the refusal's status, shown above
 * the field as the page would show it. Anything else (a sign-in that ended, a refused CSRF token) is
 * followed or reported. Without this script the form posts normally and the server answers with pages.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-upload-form]");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var errorBox = form.querySelector("[data-upload-error]");
  var progressBox = form.querySelector("[data-upload-progress]");
  var bar = form.querySelector("progress");
  var percent = form.querySelector("[data-upload-percent]");
  var status = form.querySelector("[data-upload-status]");
  var button = form.querySelector("button[type=submit]");
  var field = form.querySelector("input[type=file]");

  function show(value) {
    var rounded = Math.max(0, Math.min(100, Math.round(value)));
    bar.setAttribute("value", String(rounded));
    bar.textContent = rounded + "%";
    percent.textContent = rounded + "%";
  }

  function showError(message) {
    errorBox.textContent = "";
    var line = document.createElement("p");
    line.textContent = message;
    errorBox.appendChild(line);
    errorBox.hidden = false;
    field.closest(".field").classList.add("has-error");
    status.textContent = "";
    button.disabled = false;
  }

  function answer(xhr) {
    var body = null;
    if ((xhr.getResponseHeader("Content-Type") || "").indexOf("application/json") === 0) {
      try {
        body = JSON.parse(xhr.responseText);
      } catch (ignored) {
        body = null;
      }
    }
    if (body && typeof body.redirect === "string" && xhr.status >= 200 && xhr.status < 300) {
      show(100);
      status.textContent = "Uploaded.";
      window.location.assign(body.redirect);
      return;
    }
    if (body && typeof body.error === "string") {
      showError(body.error);
      return;
    }
    if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL) {
      // Not the upload's answer (redirected to the sign-in page, say): go where the server sent us.
      window.location.assign(xhr.responseURL);
      return;
    }
    showError("The upload did not work (error " + xhr.status + "). Reload the page and try again.");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable && progress.total > 0) {
        show((progress.loaded / progress.total) * 100);
      }
    });
    xhr.upload.addEventListener("load", function () {
      show(100);
      status.textContent = "Checking the file\u2026";
    });
    xhr.addEventListener("load", function () {
      answer(xhr);
    });
    xhr.addEventListener("error", function () {
      showError("The upload was interrupted. Check your connection and try again.");
    });
    errorBox.hidden = true;
    show(0);
    progressBox.hidden = false;
    status.textContent = "Uploading\u2026";
    button.disabled = true;
    xhr.send(new FormData(form));
  });
})();
