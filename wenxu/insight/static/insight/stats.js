/* 统计 (/stats/): draws each chart from the JSON the page carries (Django's json_script), and
 * folds the custom dates away unless "自定义" is chosen. No inline script: everything the charts
 * need is in <script type="application/json" id="chart-…"> tags next to their containers. */
(function () {
  "use strict";

  var FONT = 'system-ui, -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';
  var PALETTE = ["#b3261e", "#1f6feb", "#2e7d32", "#ed6c02", "#6a1b9a", "#00838f", "#5d4037", "#c2185b", "#546e7a", "#827717"];
  var charts = [];
  // The words the charts draw, in the page's language (the template's data-wx-stats-text).
  var TEXT = { week: "", noData: "" };

  function isEmpty(spec) {
    return !spec.series.some(function (s) {
      return s.data.some(function (v) { return v !== null && v !== 0; });
    });
  }

  function shortDate(value, weekly) {
    // "2026-11-03" → "11-03" (weekly: "11-03" and the word for week)
    var text = String(value).slice(5);
    return weekly ? text + TEXT.week : text;
  }

  function percentFormatter(value) {
    return value === null || value === undefined || value === "-" ? "—" : value + "%";
  }

  function base(spec, narrow) {
    // On a phone a legend of many names wraps to a second line instead of paging.
    var names = spec.kind === "pie" ? spec.x.length : spec.series.length;
    var wraps = narrow && names > 3;
    return {
      color: spec.colors || PALETTE,
      textStyle: { fontFamily: FONT },
      animation: false,
      // Rich-text tooltips are drawn on the canvas: HTML ones carry style attributes, which the
      // Content-Security-Policy refuses (ADR 0018).
      tooltip: { trigger: spec.kind === "pie" ? "item" : "axis", confine: true, renderMode: "richText" },
      legend: {
        type: "plain", top: 0, left: "center", width: "96%", itemGap: narrow ? 8 : 12,
        itemWidth: narrow ? 18 : 25, textStyle: { fontSize: narrow ? 11 : 12 }
      },
      grid: { left: 8, right: narrow ? 16 : 24, top: wraps ? 58 : 36, bottom: 8, containLabel: true }
    };
  }

  function lineOption(spec, narrow) {
    var option = base(spec, narrow);
    option.xAxis = {
      type: "category",
      boundaryGap: false,
      data: spec.x,
      axisLabel: { formatter: function (v) { return shortDate(v, spec.weekly); }, hideOverlap: true }
    };
    option.yAxis = { type: "value", minInterval: spec.percent || spec.min ? 0 : 1 };
    if (spec.percent) {
      option.yAxis.min = 0;
      option.yAxis.max = 100;
      option.yAxis.axisLabel = { formatter: "{value}%" };
      option.tooltip.valueFormatter = percentFormatter;
    }
    if (spec.min !== undefined) { option.yAxis.min = spec.min; }
    if (spec.max !== undefined) { option.yAxis.max = spec.max; }
    option.series = spec.series.map(function (s) {
      return {
        name: s.name, type: "line", data: s.data, connectNulls: true,
        symbolSize: spec.x.length > 45 ? 0 : 5, showSymbol: spec.x.length <= 45
      };
    });
    return option;
  }

  function barOption(spec, narrow) {
    var option = base(spec, narrow);
    option.xAxis = {
      type: "category", data: spec.x,
      axisLabel: { interval: 0, rotate: narrow && spec.x.length > 3 ? 30 : 0, width: narrow ? 64 : 110, overflow: "truncate" }
    };
    option.yAxis = { type: "value", minInterval: spec.percent ? 0 : 1 };
    if (spec.percent) {
      option.yAxis.min = 0;
      option.yAxis.max = 100;
      option.yAxis.axisLabel = { formatter: "{value}%" };
      option.tooltip.valueFormatter = percentFormatter;
    }
    option.series = spec.series.map(function (s) {
      return { name: s.name, type: "bar", data: s.data, barMaxWidth: 28 };
    });
    return option;
  }

  function hbarOption(spec, narrow) {
    var option = base(spec, narrow);
    option.legend.show = false;
    option.grid.top = spec.threshold ? 24 : 8;  // room for the threshold's label
    option.grid.right = 56;  // room for the value after the longest bar
    option.yAxis = {
      type: "category", data: spec.x, inverse: true,
      axisLabel: { width: narrow ? 88 : 170, overflow: "break", lineHeight: 14 }
    };
    option.xAxis = { type: "value", minInterval: spec.percent ? 0 : 1 };
    if (spec.percent) {
      option.xAxis.min = 0;
      option.xAxis.max = 100;
      option.xAxis.axisLabel = { formatter: "{value}%" };
      option.tooltip.valueFormatter = percentFormatter;
    }
    option.series = spec.series.map(function (s) {
      var series = {
        name: s.name, type: "bar", data: s.data, barMaxWidth: 18,
        label: { show: true, position: "right", formatter: spec.percent ? "{c}%" : "{c}" }
      };
      if (spec.threshold) {
        series.markLine = {
          symbol: "none", silent: true, data: [{ xAxis: spec.threshold }],
          lineStyle: { color: "#b3261e", type: "dashed" },
          label: { position: "start", formatter: spec.threshold + "%", color: "#b3261e" }
        };
      }
      return series;
    });
    return option;
  }

  function pieOption(spec, narrow) {
    var option = base(spec, narrow);
    option.legend.top = undefined;
    option.legend.bottom = 0;
    option.legend.data = spec.x;
    var series = spec.series[0];
    // Empty slices stay in the legend (and the table) but draw no label.
    var data = spec.x.map(function (name, i) { return { name: name, value: series.data[i] }; });
    option.series = [{
      name: series.name, type: "pie",
      radius: spec.donut ? ["36%", "60%"] : [0, "60%"],
      center: ["50%", "45%"],
      avoidLabelOverlap: true,
      percentPrecision: 1,
      label: { formatter: "{b}\n{d}%", fontSize: narrow ? 11 : 12 },
      data: data.filter(function (d) { return d.value > 0; })
    }];
    return option;
  }

  var BUILDERS = { line: lineOption, bar: barOption, hbar: hbarOption, pie: pieOption };

  function optionFor(spec, el) {
    var narrow = el.clientWidth < 480;
    var option = BUILDERS[spec.kind](spec, narrow);
    if (isEmpty(spec)) {
      option.graphic = {
        type: "text", left: "center", top: "middle",
        style: { text: TEXT.noData, fill: "#6c757d", font: "14px " + FONT }
      };
    }
    return option;
  }

  function fitHeight(el, spec) {
    // Ranked bars (the category axis is inverted, so a mark line's "start" is at the top): as tall as the list needs (a few rows should not fill a tall box).
    if (spec.kind !== "hbar") { return; }
    var rows = Math.max(spec.x.length, 1);
    // (A style set from script is CSSOM, which a CSP without 'unsafe-inline' allows.)
    el.style.height = Math.min(Math.max(rows * 40 + 48, 150), 640) + "px";
  }

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-wx-chart"));
    if (!source) { return; }
    var spec = JSON.parse(source.textContent);
    fitHeight(el, spec);
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(optionFor(spec, el));
    el.setAttribute("data-drawn", "true");
    charts.push({ chart: chart, el: el, spec: spec });
  }

  function resizeAll() {
    charts.forEach(function (c) {
      c.chart.resize();
      c.chart.setOption(optionFor(c.spec, c.el), { notMerge: true });
    });
  }

  function customDates() {
    var select = document.querySelector("[data-period-select]");
    if (!select) { return; }
    var fields = document.querySelectorAll("[data-custom-dates]");
    function sync() {
      fields.forEach(function (f) { f.hidden = select.value !== "custom"; });
    }
    select.addEventListener("change", sync);
    sync();
  }

  function readText() {
    var el = document.querySelector("[data-wx-stats-text]");
    if (!el) { return; }
    TEXT.week = el.getAttribute("data-week") || "";
    TEXT.noData = el.getAttribute("data-no-data") || "";
  }

  function start() {
    readText();
    customDates();
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-wx-chart]").forEach(draw);
    var timer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(resizeAll, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
