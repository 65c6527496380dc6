// Live refresh without a framework: every element with data-poll="URL" is replaced by the server's
// fragment at URL, each second while it shows something running (an element marked data-live),
// every five seconds otherwise. A lost session sends the browser to the login page.
(function () {
  "use strict";
  function live(el) { return el.querySelector("[data-live]") !== null; }
  function watch(el) {
    async function tick() {
      try {
        const answer = await fetch(el.dataset.poll, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (answer.status === 401) { window.location.assign("/login"); return; }
        if (answer.ok) { el.innerHTML = await answer.text(); }
      } catch (err) { /* the server restarts: try again later */ }
      setTimeout(tick, live(el) ? 1000 : 5000);
    }
    setTimeout(tick, live(el) ? 1000 : 5000);
  }
  document.querySelectorAll("[data-poll]").forEach(watch);
})();
