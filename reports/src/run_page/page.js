// The run page's drawing: reads the JSON the page embeds (#run-data) and draws the timeline and
// the plots as inline SVG. No library, no network: the page must open from a CI artefact or a
// mail attachment as is. Every rule about what the history means was applied in Rust already;
// this only maps times to pixels.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('run-data').textContent);
  var SVG = 'http://www.w3.org/2000/svg';
  var LEFT = 160, RIGHT = 16;
  var END = Math.max(data.end_ns, 1);
  var view = [0, END];
  var LIFE = { up: '#cfe8cf', paused: '#f5d76e', stopped: '#b8b8b8', killed: '#e06666' };
  var OUTCOME = { ok: '#3b7dd8', failed: '#e08a2b', unknown: '#b03bd8', open: '#888888' };
  var PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
  var witness = {};
  data.witness_events.forEach(function (w) { witness[w.seq] = w; });

  function width() {
    var w = document.documentElement.clientWidth || 1200;
    return Math.max(900, Math.min(1800, w - 48));
  }
  var W = width();
  function x(t) { return LEFT + (t - view[0]) / (view[1] - view[0]) * (W - LEFT - RIGHT); }
  function visible(a, b) { return b >= view[0] && a <= view[1]; }
  function clampX(t) { return Math.max(LEFT, Math.min(W - RIGHT, x(t))); }
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) { if (attrs.hasOwnProperty(k)) { e.setAttribute(k, attrs[k]); } }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function tip(e, text) { el('title', {}, e).textContent = text; return e; }
  function text(parent, x0, y0, s, cls) {
    var t = el('text', { x: x0, y: y0, 'class': cls || '' }, parent);
    t.textContent = s;
    return t;
  }
  function secs(ns) { return (ns / 1e9).toFixed(3) + ' s'; }
  function faultColour(kind) {
    if (kind === 'partition' || kind === 'cut' || kind === 'isolate') { return '#d33'; }
    if (kind.indexOf('clock') === 0) { return '#7a3bd8'; }
    if (kind.indexOf('disk') === 0) { return '#8b5a2b'; }
    if (kind === 'buggify_on') { return '#2a9d8f'; }
    return '#555';
  }
  // A time axis with "nice" ticks across [view0, view1].
  function axis(svg, y, height) {
    var span = (view[1] - view[0]) / 1e9;
    var steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
    var step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) { if (span / steps[i] <= 12) { step = steps[i]; break; } }
    var first = Math.ceil(view[0] / 1e9 / step) * step;
    for (var s = first; s <= view[1] / 1e9 + 1e-9; s += step) {
      var px = x(s * 1e9);
      el('line', { x1: px, x2: px, y1: y, y2: y + height, 'class': 'grid' }, svg);
      text(svg, px + 2, y + 10, (step < 1 ? s.toFixed(3) : s.toFixed(0)) + ' s', 'tick');
    }
  }
  function healLine(svg, top, height) {
    if (data.healed_ns === null || !visible(data.healed_ns, data.healed_ns)) { return; }
    var px = x(data.healed_ns);
    tip(el('line', { x1: px, x2: px, y1: top, y2: top + height, 'class': 'heal' }, svg), 'healed at ' + secs(data.healed_ns));
  }

  function drawTimeline() {
    var host = document.getElementById('timeline');
    host.textContent = '';
    var nodeRow = {};
    var rows = [{ label: 'network, buggify', kind: 'net' }];
    data.timeline.lanes.forEach(function (l) { nodeRow[l.node] = rows.length; rows.push({ label: l.node, kind: 'node', lane: l }); });
    var procRow = {};
    function addProcess(p) {
      if (!(p in procRow) && !(p in nodeRow)) { procRow[p] = rows.length; rows.push({ label: p, kind: 'proc' }); }
    }
    data.timeline.ops.map(function (o) { return o.process; }).sort().forEach(addProcess);
    data.witness_events.forEach(function (w) { if (w.lane) { addProcess(w.lane); } });
    var NODE_H = 22, PROC_H = 12, TOP = 18;
    var ys = [], y = TOP;
    rows.forEach(function (r) { ys.push(y); y += r.kind === 'proc' ? PROC_H : NODE_H; });
    var height = y + 6;
    var svg = el('svg', { id: 'timeline-svg', width: W, height: height, 'class': 'timeline' }, host);
    axis(svg, 0, height);
    rows.forEach(function (r, i) {
      var h = r.kind === 'proc' ? PROC_H : NODE_H;
      if (i % 2 === 0) { el('rect', { x: 0, y: ys[i], width: W, height: h, 'class': 'stripe' }, svg); }
      text(svg, 4, ys[i] + h - (r.kind === 'proc' ? 2 : 7), r.label, r.kind === 'proc' ? 'lane proc' : 'lane');
    });
    // Node lives.
    data.timeline.lanes.forEach(function (l) {
      var y0 = ys[nodeRow[l.node]];
      l.segments.forEach(function (s) {
        if (!visible(s.from_ns, s.to_ns)) { return; }
        var a = clampX(s.from_ns), b = clampX(s.to_ns);
        tip(el('rect', { x: a, y: y0 + 2, width: Math.max(1, b - a), height: NODE_H - 10, fill: LIFE[s.state], 'class': 'life life-' + s.state }, svg),
          l.node + ' ' + s.state + ' ' + secs(s.from_ns) + ' – ' + secs(s.to_ns));
      });
    });
    // Faults that last: on each node they touch, or on the network row.
    var netBand = {};
    data.timeline.faults.forEach(function (f) {
      if (!visible(f.from_ns, f.to_ns)) { return; }
      var a = clampX(f.from_ns), b = clampX(f.to_ns);
      var label = f.label + ' ' + secs(f.from_ns) + ' – ' + secs(f.to_ns);
      var targets = f.nodes.filter(function (n) { return n in nodeRow; });
      if (targets.length === 0) {
        var band = netBand[f.kind] = netBand[f.kind] === undefined ? Object.keys(netBand).length % 3 : netBand[f.kind];
        tip(el('rect', { x: a, y: ys[0] + 2 + band * 6, width: Math.max(2, b - a), height: 5, fill: faultColour(f.kind), 'class': 'fault' }, svg), label);
      }
      targets.forEach(function (n) {
        tip(el('rect', { x: a, y: ys[nodeRow[n]] + NODE_H - 8, width: Math.max(2, b - a), height: 5, fill: faultColour(f.kind), 'class': 'fault' }, svg), label);
      });
    });
    // Instant faults.
    data.timeline.marks.forEach(function (m) {
      if (!visible(m.at_ns, m.at_ns)) { return; }
      var px = x(m.at_ns);
      var row = m.node in nodeRow ? nodeRow[m.node] : 0;
      var y0 = ys[row];
      tip(el('path', { d: 'M' + (px - 4) + ' ' + y0 + ' L' + (px + 4) + ' ' + y0 + ' L' + px + ' ' + (y0 + 8) + ' Z', 'class': 'mark mark-' + m.kind }, svg),
        m.label + ' at ' + secs(m.at_ns));
    });
    // Client operations.
    data.timeline.ops.forEach(function (o) {
      var end = o.to_ns === null ? END : o.to_ns;
      if (!visible(o.from_ns, end)) { return; }
      var a = clampX(o.from_ns), b = clampX(end);
      var hit = (o.seq in witness) || (o.done_seq !== null && o.done_seq in witness);
      var y0 = ys[procRow[o.process] !== undefined ? procRow[o.process] : nodeRow[o.process]];
      tip(el('rect', { x: a, y: y0 + 2, width: Math.max(1.5, b - a), height: PROC_H - 4, fill: OUTCOME[o.outcome], 'class': hit ? 'op witness-op' : 'op' }, svg),
        o.process + ': ' + o.label + ' (' + secs(o.from_ns) + (o.to_ns === null ? '' : ' – ' + secs(o.to_ns)) + ')');
    });
    healLine(svg, 0, height);
    // The witnesses of the failed properties, each linked to its row in the table below.
    data.witness_events.forEach(function (w) {
      if (!visible(w.at_ns, w.at_ns)) { return; }
      var row = w.lane in procRow ? procRow[w.lane] : (w.lane in nodeRow ? nodeRow[w.lane] : 0);
      var h = rows[row].kind === 'proc' ? PROC_H : NODE_H;
      var px = x(w.at_ns);
      var a = el('a', { href: '#ev-' + w.seq }, svg);
      el('line', { x1: px, x2: px, y1: ys[row] - 2, y2: ys[row] + h + 2, 'class': 'witness' }, a);
      tip(el('circle', { cx: px, cy: ys[row] + h / 2, r: 3.5, 'class': 'witness' }, a), '#' + w.seq + ' ' + secs(w.at_ns) + ' ' + w.text);
    });
  }

  function drawPlot(p) {
    var host = document.getElementById(p.id);
    host.textContent = '';
    var h3 = document.createElement('h3');
    h3.textContent = p.title;
    host.appendChild(h3);
    if (p.empty_note !== null) {
      var note = document.createElement('p');
      note.className = 'empty';
      note.textContent = p.empty_note;
      host.appendChild(note);
      return;
    }
    var H = 190, TOP = 14, BOTTOM = 20;
    var ymax = 1;
    p.lines.forEach(function (l) { l.points.forEach(function (pt) { if (visible(pt[0], pt[0]) && pt[1] > ymax) { ymax = pt[1]; } }); });
    function y(v) { return TOP + (1 - v / ymax) * (H - TOP - BOTTOM); }
    var svg = el('svg', { width: W, height: H, 'class': 'plot', 'data-plot': p.id }, host);
    data.shaded.forEach(function (s) {
      if (!visible(s[0], s[1])) { return; }
      var a = clampX(s[0]), b = clampX(s[1]);
      tip(el('rect', { x: a, y: TOP, width: Math.max(1, b - a), height: H - TOP - BOTTOM, 'class': 'shade' }, svg), 'faults active ' + secs(s[0]) + ' – ' + secs(s[1]));
    });
    axis(svg, H - BOTTOM, BOTTOM);
    [0, 0.5, 1].forEach(function (f) {
      var v = ymax * f;
      el('line', { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), 'class': 'grid' }, svg);
      text(svg, LEFT - 4, y(v) + 4, (v >= 100 ? v.toFixed(0) : v.toPrecision(3)) + ' ' + p.unit, 'ytick');
    });
    healLine(svg, TOP, H - TOP - BOTTOM);
    var legend = document.createElement('div');
    legend.className = 'legend';
    p.lines.forEach(function (l, i) {
      var colour = PALETTE[i % PALETTE.length];
      var pts = l.points.filter(function (pt) { return visible(pt[0], pt[0]); });
      if (p.scatter) {
        var g = el('g', { fill: colour, 'class': 'series' }, svg);
        pts.forEach(function (pt) { el('circle', { cx: x(pt[0]), cy: y(pt[1]), r: 1.6 }, g); });
      } else if (pts.length > 0) {
        var d = 'M' + x(pts[0][0]) + ' ' + y(pts[0][1]);
        for (var k = 1; k < pts.length; k++) { d += ' H' + x(pts[k][0]) + ' V' + y(pts[k][1]); }
        d += ' H' + clampX(view[1]);
        el('path', { d: d, stroke: colour, 'class': 'series line' }, svg);
      }
      var item = document.createElement('span');
      item.innerHTML = '<i style="background:' + colour + '"></i>';
      item.appendChild(document.createTextNode(l.label + ' (' + l.points.length + ')'));
      legend.appendChild(item);
    });
    host.appendChild(legend);
  }

  function render() {
    W = width();
    drawTimeline();
    data.plots.forEach(drawPlot);
    document.getElementById('view-range').textContent = secs(view[0]) + ' – ' + secs(view[1]);
    document.body.setAttribute('data-rendered', 'ok');
  }

  // Zoom: a window of simulated time for the timeline and every plot at once.
  function zoomTo(a, b) {
    a = Math.max(0, Math.min(a, END));
    b = Math.max(0, Math.min(b, END));
    if (b - a < 1e6) { return; }
    view = [a, b];
    render();
  }
  document.getElementById('zoom-apply').addEventListener('click', function () {
    var a = parseFloat(document.getElementById('zoom-from').value) * 1e9;
    var b = parseFloat(document.getElementById('zoom-to').value) * 1e9;
    if (isFinite(a) && isFinite(b)) { zoomTo(a, b); }
  });
  document.getElementById('zoom-reset').addEventListener('click', function () { zoomTo(0, END); });
  var witnessRows = document.querySelectorAll('tr.witness-row');
  for (var i = 0; i < witnessRows.length; i++) {
    witnessRows[i].addEventListener('dblclick', function (ev) {
      var t = Number(ev.currentTarget.getAttribute('data-at-ns'));
      zoomTo(t - 2e9, t + 2e9);
      document.getElementById('timeline').scrollIntoView();
    });
  }
  window.addEventListener('resize', function () { if (Math.abs(width() - W) > 40) { render(); } });
  render();
})();
