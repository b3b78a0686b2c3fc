/* Report charts: every <canvas data-chart="ID"> is drawn by Chart.js from the JSON in the
   <script type="application/json" id="ID"> next to it ({type, labels, datasets, links,
   locale, currency}). A click on a bar, point or slice opens the list of its records.
   A funnel is a horizontal bar chart in the picklist's order. Charts in content that htmx
   swaps in are drawn after the swap. */
(function () {
  "use strict";

  function formatter(spec, money) {
    var options = money ? {style: "currency", currency: spec.currency, maximumFractionDigits: 0}
                        : {maximumFractionDigits: 2};
    var format = new Intl.NumberFormat(spec.locale, options);
    return function (value) { return format.format(value); };
  }

  function config(spec) {
    var type = spec.type === "funnel" ? "bar" : spec.type;
    var horizontal = spec.type === "funnel";
    var round = spec.type === "pie";
    var formats = spec.datasets.map(function (d) { return formatter(spec, d.money); });
    var options = {
      responsive: true, maintainAspectRatio: false,
      plugins: {
        legend: {display: round || spec.datasets.length > 1},
        tooltip: {callbacks: {label: function (item) {
          var value = round ? item.parsed : (horizontal ? item.parsed.x : item.parsed.y);
          return item.dataset.label + ": " + formats[item.datasetIndex](value);
        }}}
      },
      onClick: function (event, items) {
        if (items.length && spec.links[items[0].index]) {
          window.location.href = spec.links[items[0].index];
        }
      },
      onHover: function (event, items) {
        event.native.target.style.cursor = items.length ? "pointer" : "default";
      }
    };
    if (horizontal) options.indexAxis = "y";
    if (!round) {
      var axis = horizontal ? "x" : "y";
      options.scales = {};
      options.scales[axis] = {beginAtZero: true, ticks: {callback: function (value) {
        return formats[0](value);
      }}};
    }
    return {
      type: type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (d) {
          return {label: d.label, data: d.data, tension: 0.2};
        })
      },
      options: options
    };
  }

  function draw(canvas) {
    if (typeof Chart === "undefined" || Chart.getChart(canvas)) return;
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) return;
    new Chart(canvas, config(JSON.parse(source.textContent)));
  }

  function drawAll(root) {
    var canvases = (root || document).querySelectorAll("canvas[data-chart]");
    Array.prototype.forEach.call(canvases, draw);
  }

  drawAll(document);
  document.addEventListener("htmx:afterSettle", function () { drawAll(document); });
})();
