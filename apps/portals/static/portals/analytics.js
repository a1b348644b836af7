/* Product analytics for portal pages: `page_view` when a page loads, and the event the page names.
 *
 * Loaded with <script defer src> by the pages that send events; the script tag carries the
 * portal's route (data-analytics-url) and, optionally, one more event (data-event, with
 * data-event-step). Posts JSON with the CSRF token of <meta name="csrf-token">, on the session
 * cookie. Failures are ignored: analytics never gets in the way of the page.
 */
(function () {
  "use strict";
  var script = document.querySelector("script[data-analytics-url]");
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!script || !meta || typeof window.fetch !== "function") {
    return;
  }
  var url = script.getAttribute("data-analytics-url");

  function send(event, properties) {
    return window
      .fetch(url, {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: { "Content-Type": "application/json", "X-CSRFToken": meta.getAttribute("content") || "" },
        body: JSON.stringify({ event: event, properties: properties }),
      })
      .catch(function () {
        return null;
      });
  }

  send("page_view", { path: window.location.pathname.slice(0, 200) });
  var extra = script.getAttribute("data-event");
  if (extra) {
    var properties = {};
    var step = script.getAttribute("data-event-step");
    if (step) {
      properties.flow = "onboarding";
      properties.step = step;
    }
    send(extra, properties);
  }
})();
