// upload.js sends the upload form with XMLHttpRequest, to show a progress
// bar, and then opens the image's page. Without it the form still works as
// a plain multipart POST.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) {
    return;
  }
  var errorBox = document.getElementById("upload-error");
  var status = document.getElementById("upload-status");
  var bar = document.getElementById("upload-progress");
  var text = document.getElementById("upload-progress-text");
  var button = form.querySelector("button[type=submit]");
  var maxBytes = Number(form.getAttribute("data-max-bytes")) || 0;

  function human(n) {
    if (n >= 1048576) {
      return (n / 1048576).toFixed(1) + " MiB";
    }
    if (n >= 1024) {
      return (n / 1024).toFixed(1) + " KiB";
    }
    return n + " bytes";
  }

  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    status.hidden = true;
    button.disabled = false;
    errorBox.focus();
  }

  function progress(loaded, total) {
    var pct = total > 0 ? Math.min(100, Math.floor((loaded * 100) / total)) : 0;
    bar.value = pct;
    bar.textContent = pct + "%";
    text.textContent = pct + "% · " + human(loaded) + " of " + human(total);
  }

  form.addEventListener("submit", function (event) {
    var file = form.elements.file.files[0];
    event.preventDefault();
    if (maxBytes && file && file.size > maxBytes) {
      fail("The image is larger than the limit of " + form.getAttribute("data-max-size") + ".");
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        progress(e.loaded, e.total);
      }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.ok && body.url.charAt(0) === "/") {
        text.textContent = "Uploaded. Opening the image…";
        window.location.assign(body.url);
        return;
      }
      if (body && body.error && body.error.message) {
        fail(body.error.message);
      } else {
        fail("The upload failed (HTTP " + xhr.status + "). Please try again.");
      }
    });
    xhr.addEventListener("error", function () {
      fail("The upload failed: the connection was lost. Please try again.");
    });
    xhr.addEventListener("abort", function () {
      fail("The upload was cancelled.");
    });
    errorBox.hidden = true;
    button.disabled = true;
    status.hidden = false;
    progress(0, file ? file.size : 0);
    xhr.send(new FormData(form));
  });
})();
