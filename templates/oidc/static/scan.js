// The scan page, live: shows when the code expires in the reader's time,
// asks the server for the ticket's state every second and reloads when it
// changes (the server then shows the next step, or sends the browser on to
// the web application). Without JavaScript the page refreshes itself
// instead, and shows the expiry in UTC.
(function () {
  // The code's expiry in the reader's own time; the server can only say UTC.
  var expiry = document.getElementById("expires-at");
  var at = expiry && new Date(expiry.getAttribute("datetime"));
  if (at && !isNaN(at.getTime())) {
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    expiry.textContent = two(at.getHours()) + ":" + two(at.getMinutes());
  }
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
