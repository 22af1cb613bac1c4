// Switchyard dashboard: small progressive enhancements over server-rendered pages.
// Charts (uPlot) read their data from <script type="application/json" id="chart-data">.
"use strict";
(function () {
  const charts = [];

  function fmt(v, unit) {
    if (v == null || Number.isNaN(v)) return "–";
    if (unit === "USD") {
      if (v === 0) return "$0";
      const a = Math.abs(v);
      return "$" + (a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(3));
    }
    if (unit === "ms") return (v >= 10000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms");
    const a = Math.abs(v);
    const n = a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e4 ? (v / 1e3).toFixed(1) + "k" : (Number.isInteger(v) ? String(v) : v.toFixed(1));
    return unit ? n + " " + unit : n;
  }

  function tooltip(c) {
    let tip;
    return {
      hooks: {
        init: (u) => {
          tip = document.createElement("div");
          tip.className = "chart-tip";
          tip.hidden = true;
          u.over.appendChild(tip);
        },
        setCursor: (u) => {
          const i = u.cursor.idx;
          if (i == null) { tip.hidden = true; return; }
          const when = new Date(u.data[0][i] * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
          tip.replaceChildren();
          const head = document.createElement("div");
          head.textContent = when;
          tip.appendChild(head);
          c.series.forEach((s, k) => {
            const row = document.createElement("div");
            const sw = document.createElement("span");
            sw.className = "sw";
            sw.style.background = s.color;
            row.appendChild(sw);
            row.appendChild(document.createTextNode(s.label + ": " + fmt(u.data[k + 1][i], c.unit)));
            tip.appendChild(row);
          });
          tip.hidden = false;
          const left = u.cursor.left, top = u.cursor.top;
          const w = tip.offsetWidth;
          tip.style.left = Math.min(Math.max(0, left + 12), u.over.clientWidth - w) + "px";
          tip.style.top = Math.max(0, top - 10) + "px";
        },
      },
    };
  }

  function render(el, c) {
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue("--muted").trim() || "#888";
    const line = css.getPropertyValue("--line").trim() || "#ddd";
    const points = c.series.reduce((n, s) => n + s.values.filter((v) => v != null && v !== 0).length, 0);
    el.dataset.points = String(points);
    el.replaceChildren();
    if (points === 0) {
      const empty = document.createElement("div");
      empty.className = "empty-chart";
      empty.textContent = "No data in this range yet.";
      el.appendChild(empty);
      return;
    }
    const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const opts = {
      width: Math.max(el.clientWidth, 200),
      height: 230,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true } },
      series: [{ label: "Time (UTC)" }].concat(c.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: c.fill ? s.color + "26" : undefined,
        spanGaps: false,
        points: { show: c.x.length <= 90, size: 4 },
        value: (u, v) => fmt(v, c.unit),
      }))),
      axes: [
        Object.assign({}, axis),
        Object.assign({}, axis, {
          size: c.unit === "USD" ? 84 : 64,
          label: c.axis,
          labelSize: 16,
          values: (u, vals) => vals.map((v) => fmt(v, c.unit)),
        }),
      ],
      cursor: { points: { size: 7 } },
      legend: { live: false },
      plugins: [tooltip(c)],
    };
    const data = [c.x].concat(c.series.map((s) => s.values));
    const u = new uPlot(opts, data, el);
    charts.push({ el, u });
    // Follow the card's width (window resize, phone rotation, grid reflow).
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => {
        const w = Math.max(el.clientWidth, 200);
        if (w !== u.width) u.setSize({ width: w, height: 230 });
      }).observe(el);
    }
  }

  function initCharts(root) {
    const src = root.querySelector("#chart-data");
    if (!src || typeof uPlot === "undefined") return;
    const all = JSON.parse(src.textContent);
    root.querySelectorAll(".chart[data-chart]").forEach((el) => {
      const c = all[el.dataset.chart];
      if (c) render(el, c);
    });
  }

  function initForms(root) {
    root.querySelectorAll("select[data-range]").forEach((sel) => {
      const toggle = () => {
        const custom = sel.value === "custom";
        sel.form && sel.form.querySelectorAll(".custom-range").forEach((l) => {
          l.hidden = !custom;
          l.querySelectorAll("input").forEach((i) => { i.disabled = !custom; });
        });
      };
      sel.addEventListener("change", toggle);
      toggle();
    });
    root.querySelectorAll("button[data-copy]").forEach((b) => {
      b.addEventListener("click", () => {
        const target = document.getElementById(b.dataset.copy);
        if (!target || !navigator.clipboard) return;
        navigator.clipboard.writeText(target.textContent.trim()).then(() => {
          b.textContent = "Copied";
        }, () => { b.textContent = "Select and copy"; });
      });
    });
    root.querySelectorAll("input[data-filter-cards]").forEach((input) => {
      const run = () => {
        const q = input.value.trim().toLowerCase();
        document.querySelectorAll("[data-card-text]").forEach((card) => {
          card.hidden = q !== "" && !card.dataset.cardText.includes(q);
        });
      };
      input.addEventListener("input", run);
      run();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("select[data-nav]").forEach((sel) => {
      sel.addEventListener("change", () => { window.location.href = sel.value; });
    });
    initForms(document);
    initCharts(document);
    let t;
    window.addEventListener("resize", () => {
      clearTimeout(t);
      t = setTimeout(() => charts.forEach(({ el, u }) => u.setSize({ width: Math.max(el.clientWidth, 200), height: 230 })), 150);
    });
  });
  document.addEventListener("htmx:afterSettle", (e) => initForms(e.target));
})();
