/* The settings page's theme preview: the header bar and button follow the colour input as it changes.
 *
 * CSP: this is a static file (no inline script), and it sets CSS custom properties through the
 * CSSOM (element.style.setProperty), which the policy allows, never a style="" attribute.
 * Without JavaScript the preview shows the saved colour (theme.css's --primary / --on-primary).
 * The text colour on the bar is picked as apps/portals/theme.py picks it: white or near-black,
 * whichever contrasts more (WCAG relative luminance).
 */
(function () {
  "use strict";

  var HEX = /^#[0-9a-fA-F]{6}$/;

  function luminance(hex) {
    var channels = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  }

  function contrast(a, b) {
    var la = luminance(a), lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  function onColour(hex) {
    return contrast(hex, "#ffffff") >= contrast(hex, "#111111") ? "#ffffff" : "#111111";
  }

  function follow(input) {
    var preview = document.getElementById(input.getAttribute("data-theme-preview"));
    if (!preview) {
      return;
    }
    function update() {
      var value = input.value;
      if (!HEX.test(value)) {
        return;
      }
      preview.style.setProperty("--preview-primary", value);
      preview.style.setProperty("--preview-on-primary", onColour(value));
    }
    input.addEventListener("input", update);
    input.addEventListener("change", update);
  }

  function start() {
    var inputs = document.querySelectorAll("input[data-theme-preview]");
    for (var i = 0; i < inputs.length; i++) {
      follow(inputs[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
