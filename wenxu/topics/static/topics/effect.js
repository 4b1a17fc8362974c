/* 专题成效: draws the weekly chart from the JSON the page carries (json_script); the table under
 * it holds the same numbers for readers without the chart. No inline script. */
(function () {
  "use strict";

  var FONT = 'system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-wx-topic-chart"));
    if (!source || typeof echarts === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    if (!spec) { return; }
    var words = document.querySelector("[data-wx-topic-text]");
    var afterWord = words ? words.getAttribute("data-after") : "";
    var narrow = el.clientWidth < 576;
    var chart = echarts.init(el, null, { renderer: "svg" });
    var firstAfter = spec.after.indexOf(true);
    var bars = spec.series[0];
    var line = spec.series[1];
    var option = {
      color: ["#1f6feb", "#b3261e"],
      textStyle: { fontFamily: FONT },
      animation: false,
      tooltip: { trigger: "axis", confine: true, renderMode: "richText" },  // no style attributes (CSP)
      legend: { top: 0, left: "center", textStyle: { fontSize: narrow ? 11 : 12 } },
      grid: { left: 8, right: narrow ? 12 : 24, top: 36, bottom: 8, containLabel: true },
      xAxis: {
        type: "category",
        data: spec.x,
        axisLabel: { formatter: function (v) { return String(v).slice(5); }, hideOverlap: true }
      },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        {
          name: bars.name, type: "bar", data: bars.data,
          itemStyle: { color: function (p) { return spec.after[p.dataIndex] ? "#2e7d32" : "#1f6feb"; } },
          markLine: firstAfter < 0 ? undefined : {
            symbol: "none", silent: true,
            lineStyle: { color: "#ed6c02", type: "dashed" },
            label: { formatter: afterWord, position: "insideEndTop" },
            data: [{ xAxis: firstAfter }]
          }
        },
        { name: line.name, type: "line", data: line.data, symbolSize: 5 }
      ]
    };
    chart.setOption(option);
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.querySelectorAll("[data-wx-topic-chart]").forEach(draw);
})();
