// The scan page, live: asks the server for the ticket's state every second
// and reloads when it changes (the server then shows the next step, or
// sends the browser on to the web application). Without JavaScript the page
// refreshes itself instead.
(function () {
  var card = document.getElementById("web-login");
  if (!card || !card.dataset.poll) return;
  var shown = card.dataset.state;
  function poll() {
    fetch(card.dataset.poll, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (answer && answer.state !== shown) {
          window.location.reload();
        } else {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
