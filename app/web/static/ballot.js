// Progressive enhancement only: the ballot works without it.
(function () {
  "use strict";
  // Show the deadline in the browser's own time zone.
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when)) return;
    el.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    }).format(when);
  });
  // Keep "12 of 20 rated" up to date while the panelist answers.
  var form = document.querySelector("form.ballot");
  var count = document.getElementById("rated-count");
  var bar = document.getElementById("progress");
  if (!form || !count) return;
  function update() {
    var rated = form.querySelectorAll("fieldset.statement input[type=radio]:checked").length;
    count.textContent = String(rated);
    if (bar) bar.value = rated;
  }
  form.addEventListener("change", update);
  update();  // a page sent back with mistakes shows what it kept, not what was saved
})();
