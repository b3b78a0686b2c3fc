// The data quality page's chart of blank fields: a bar per field; a click opens the
// records where that field is blank.
(function () {
  var data = document.getElementById("blank-data");
  if (!data || typeof Chart === "undefined") return;
  var chart = JSON.parse(data.textContent);
  new Chart(document.getElementById("blank-chart"), {
    type: "bar",
    data: {labels: chart.labels, datasets: [{label: chart.title, data: chart.values}]},
    options: {
      indexAxis: "y", maintainAspectRatio: false,
      scales: {x: {min: 0, max: 100}},
      plugins: {legend: {display: false}},
      onClick: function (event, items) {
        if (items.length) window.location.href = chart.links[items[0].index];
      }
    }
  });
})();
