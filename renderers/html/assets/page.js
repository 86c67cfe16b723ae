/* netinspect viewer: draws the graph on a canvas from ranks/orders computed in Python, assigns
   coordinates here (one linear pass, redone when a group opens or closes), and shows details. */
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const VIEW = JSON.parse($('nv-view').textContent);
  const OVERLAY = JSON.parse($('nv-overlay').textContent);
  // Details are parsed only when first needed, each block on its own (nodes in chunks), so a
  // click on a 50,000-node graph parses one chunk, not the whole model.
  const parsed = new Map();
  const block = (id) => {
    if (!parsed.has(id)) parsed.set(id, JSON.parse($('nv-' + id).textContent));
    return parsed.get(id);
  };
  const nodeRow = (k) => block('nodes-' + Math.floor(k / VIEW.chunk))[k % VIEW.chunk];

  const RANK_GAP = 26, GAP = 14, PAD = 12, HEADER = 20, VIRTUAL_W = 6;
  const canvas = $('canvas'), ctx = canvas.getContext('2d');
  const stage = $('stage'), panel = $('panel'), minimap = $('minimap'), mctx = minimap.getContext('2d');
  const view = { scale: 1, tx: 0, ty: 0 };
  let G = null;                 // the graph shown
  let selected = null;          // {type: 'item'|'group'|'edge', ...}
  let matches = [], matchAt = -1;
  let colours = {};

  // ---------- graphs ----------
  const graphs = VIEW.graphs.map((data, index) => ({
    index, data, items: data.items, groups: data.groups, parent: data.parent,
    open: new Set(data.open), boxes: [], itemBox: null, groupBox: null, edges: [], vabs: [],
    bounds: { x: 0, y: 0, w: 1, h: 1 }, status: null,
  }));

  function groupParent(g, j) { return g.groups[j][2]; }
  function ancestors(g, item) {
    const out = [];
    for (let j = g.parent[item]; j !== null && j !== undefined; j = groupParent(g, j)) out.push(j);
    return out;
  }

  // ---------- layout ----------
  function layoutGroup(g, j, rel) {
    const grp = g.groups[j], members = grp[5], rank = grp[6], order = grp[7], virt = grp[8], ledges = grp[9];
    const n = members.length, total = n + virt.length;
    const w = new Float64Array(total), h = new Float64Array(total), x = new Float64Array(total), y = new Float64Array(total);
    const rk = new Int32Array(total), od = new Int32Array(total);
    for (let m = 0; m < n; m++) {
      const ref = members[m];
      if (ref >= 0) { w[m] = g.items[ref][6]; h[m] = g.items[ref][7]; }
      else {
        const c = -ref - 1;
        if (g.open.has(c)) { const s = layoutGroup(g, c, rel); w[m] = s.w; h[m] = s.h; }
        else { w[m] = g.groups[c][3]; h[m] = g.groups[c][4]; }
      }
      rk[m] = rank[m]; od[m] = order[m];
    }
    for (let v = 0; v < virt.length; v++) { w[n + v] = VIRTUAL_W; h[n + v] = 2; rk[n + v] = virt[v][0]; od[n + v] = virt[v][1]; }
    let ranks = 0;
    for (let e = 0; e < total; e++) ranks = Math.max(ranks, rk[e] + 1);
    const rows = Array.from({ length: ranks }, () => []);
    for (let e = 0; e < total; e++) rows[rk[e]].push(e);
    rows.forEach((row) => row.sort((a, b) => od[a] - od[b]));
    const upN = Array.from({ length: total }, () => []), downN = Array.from({ length: total }, () => []);
    for (const [a, b, chain] of ledges) {
      const seq = [a, ...chain.map((v) => n + v), b];
      for (let i = 0; i + 1 < seq.length; i++) {
        const p = seq[i], q = seq[i + 1];
        if (rk[q] === rk[p] + 1) { downN[p].push(q); upN[q].push(p); }
      }
    }
    let top = 0;
    for (const row of rows) {
      let rh = 0, left = 0;
      for (const e of row) rh = Math.max(rh, h[e]);
      for (const e of row) { y[e] = top + (rh - h[e]) / 2; x[e] = left; left += w[e] + GAP; }
      for (const e of row) x[e] -= (left - GAP) / 2;
      top += rh + RANK_GAP;
    }
    // Each rank: every box wants to sit over (or under) its neighbours; the best-connected box of
    // the rank gets exactly its wish (the data path stays straight), the others keep their order
    // and are pushed aside from it (constants and side branches move, the spine does not).
    const place = (row, near) => {
      if (!row.length) return;
      const want = new Float64Array(row.length);
      let anchor = 0, best = -1;
      row.forEach((e, i) => {
        let links = near[e];
        if (near === upN && links.length > 1) {   // follow the data path, not the constants feeding in
          const fed = links.filter((o) => upN[o].length);
          if (fed.length) links = fed;
        }
        if (links.length) {
          let s = 0;
          for (const o of links) s += x[o] + w[o] / 2;
          want[i] = s / links.length - w[e] / 2;
        } else want[i] = x[e];
        const degree = upN[e].length + downN[e].length + (e < n ? 0.5 : 0);
        if (degree > best) { best = degree; anchor = i; }
      });
      x[row[anchor]] = want[anchor];
      for (let i = anchor + 1; i < row.length; i++) x[row[i]] = Math.max(want[i], x[row[i - 1]] + w[row[i - 1]] + GAP);
      for (let i = anchor - 1; i >= 0; i--) x[row[i]] = Math.min(want[i], x[row[i + 1]] - GAP - w[row[i]]);
    };
    for (let r = 1; r < ranks; r++) place(rows[r], upN);
    for (let r = ranks - 2; r >= 0; r--) place(rows[r], downN);
    for (let r = 1; r < ranks; r++) place(rows[r], upN);
    let minX = Infinity, maxX = -Infinity, maxY = 0;
    for (let e = 0; e < total; e++) { minX = Math.min(minX, x[e]); maxX = Math.max(maxX, x[e] + w[e]); maxY = Math.max(maxY, y[e] + h[e]); }
    if (!total) { minX = 0; maxX = 60; }
    const framed = j !== 0, dx = (framed ? PAD : 0) - minX, dy = framed ? HEADER + 6 : 0;
    for (let e = 0; e < total; e++) { x[e] += dx; y[e] += dy; }
    rel[j] = { x, y, w, h, n };
    const titleW = framed ? g.groups[j][1][0].length * 7 + 30 : 0;
    return { w: Math.max(maxX - minX + (framed ? 2 * PAD : 0), titleW), h: maxY + dy + (framed ? PAD : 0) };
  }

  function relayout(g) {
    const rel = {};
    const size = layoutGroup(g, 0, rel);
    g.boxes = []; g.itemBox = new Int32Array(g.items.length).fill(-1); g.groupBox = new Int32Array(g.groups.length).fill(-1);
    g.vabs = {};
    const frames = [], boxes = [];
    const hide = (j, box) => {          // every item inside closed group j is shown by `box`
      for (const ref of g.groups[j][5]) { if (ref >= 0) g.itemBox[ref] = box; else hide(-ref - 1, box); }
    };
    const put = (j, ox, oy) => {
      const r = rel[j], members = g.groups[j][5];
      for (let m = 0; m < r.n; m++) {
        const ref = members[m], bx = ox + r.x[m], by = oy + r.y[m];
        if (ref >= 0) { boxes.push({ t: 0, i: ref, x: bx, y: by, w: r.w[m], h: r.h[m] }); }
        else {
          const c = -ref - 1;
          if (g.open.has(c)) { frames.push({ t: 2, i: c, x: bx, y: by, w: r.w[m], h: r.h[m] }); put(c, bx, by); }
          else boxes.push({ t: 1, i: c, x: bx, y: by, w: r.w[m], h: r.h[m] });
        }
      }
      const virt = [];
      for (let v = r.n; v < r.x.length; v++) virt.push([ox + r.x[v] + VIRTUAL_W / 2, oy + r.y[v] + 1]);
      g.vabs[j] = virt;
    };
    put(0, 0, 0);
    g.boxes = frames.concat(boxes);
    g.boxes.forEach((b, k) => {
      if (b.t === 0) g.itemBox[b.i] = k;
      else { g.groupBox[b.i] = k; if (b.t === 1) hide(b.i, k); }
    });
    g.bounds = { x: 0, y: 0, w: size.w, h: size.h };
    routeEdges(g);
    drawMinimapBase();
  }

  function openFrame(g, ref) {          // the frame of a member that is an open group, else null
    if (ref >= 0 || !g.open.has(-ref - 1)) return null;
    const k = g.groupBox[-ref - 1];
    return k >= 0 ? g.boxes[k] : null;
  }
  function routeEdges(g) {
    const seen = new Map();
    g.edges = [];
    for (const [u, v, name, lv, le] of g.data.edges) {
      const a = g.itemBox[u], b = g.itemBox[v];
      if (a < 0 || b < 0 || a === b) continue;
      const key = a * 4194304 + b;
      const known = seen.get(key);
      if (known !== undefined) { g.edges[known].values.push(name); continue; }
      const A = g.boxes[a], B = g.boxes[b];
      const [ma, mb, chain] = g.groups[lv][9][le];
      const CA = openFrame(g, g.groups[lv][5][ma]), CB = openFrame(g, g.groups[lv][5][mb]);
      const pts = [[A.x + A.w / 2, A.y + A.h]];
      // An end deep inside an open group leaves or enters it along the group's right side, so it
      // does not run over the boxes stacked above or below it (a residual skip into its Add).
      if (CA && A.y + A.h < CA.y + CA.h - PAD - 4) { const lane = CA.x + CA.w + 6; pts.push([lane, A.y + A.h + 10], [lane, CA.y + CA.h]); }
      const virt = g.vabs[lv] || [];
      for (const c of chain) if (virt[c]) pts.push(virt[c]);
      if (CB && B.y > CB.y + HEADER + 10) { const lane = CB.x + CB.w + 6; pts.push([lane, CB.y], [lane, B.y - 10]); }
      pts.push([B.x + B.w / 2, B.y]);
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const [px, py] of pts) { x0 = Math.min(x0, px); y0 = Math.min(y0, py); x1 = Math.max(x1, px); y1 = Math.max(y1, py); }
      seen.set(key, g.edges.length);
      g.edges.push({ from: a, to: b, pts, values: [name], bb: [x0 - 4, y0 - 4, x1 + 4, y1 + 4], u, v });
    }
  }

  // ---------- colours and overlay ----------
  function readColours() {
    const css = getComputedStyle(document.documentElement);
    for (const k of ['bg', 'fg', 'muted', 'line', 'edge', 'frame', 'frame-fill', 'select', 'match', 'node-text', 'pass', 'fail', 'first', 'first-text', 'none'])
      colours[k] = css.getPropertyValue('--' + k).trim();
    colours.alpha = parseFloat(css.getPropertyValue('--node-alpha')) || 1;
  }
  const RANK = { pass: 1, fail: 2, first: 3 };
  function overlayStatus(g) {
    if (!OVERLAY) return;
    g.status = { items: new Array(g.items.length).fill(null), groups: new Array(g.groups.length).fill(null) };
    g.items.forEach((it, i) => {
      const mark = OVERLAY.nodes[it[0]];
      if (!mark) return;
      g.status.items[i] = mark.status;
      for (const j of ancestors(g, i)) {
        const cur = g.status.groups[j];
        if (!cur || RANK[mark.status] > RANK[cur]) g.status.groups[j] = mark.status;
      }
    });
  }
  function fillFor(g, box) {
    if (g.status) {
      const s = box.t === 0 ? g.status.items[box.i] : g.status.groups[box.i];
      return colours[s || 'none'];
    }
    if (box.t === 1) return colours['frame-fill'];
    const it = g.items[box.i];
    if (it[1] === 1) return '#93c5fd';
    if (it[1] === 2) return '#fca5a5';
    return VIEW.categories[it[5]] || VIEW.categories.other;
  }

  // ---------- drawing ----------
  let pending = false;
  function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
  function resize() {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(stage.clientWidth * dpr));
    canvas.height = Math.max(1, Math.round(stage.clientHeight * dpr));
    redraw();
  }
  function visibleRect() {
    return [-view.tx / view.scale, -view.ty / view.scale, (stage.clientWidth - view.tx) / view.scale, (stage.clientHeight - view.ty) / view.scale];
  }
  function curve(c, pts) {
    c.moveTo(pts[0][0], pts[0][1]);
    for (let i = 0; i + 1 < pts.length; i++) {
      const [x0, y0] = pts[i], [x1, y1] = pts[i + 1], d = Math.max(12, Math.abs(y1 - y0) / 2);
      c.bezierCurveTo(x0, y0 + d, x1, y1 - d, x1, y1);
    }
  }
  function draw() {
    pending = false;
    const dpr = window.devicePixelRatio || 1, s = view.scale;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = colours.bg; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * view.tx, dpr * view.ty);
    const [vx0, vy0, vx1, vy1] = visibleRect();
    const inView = (x, y, w, h) => x < vx1 && x + w > vx0 && y < vy1 && y + h > vy0;
    const text = s >= 0.45, g = G;
    const hits = new Set(matches.filter((m) => m.g === g.index).map((m) => (m.item >= 0 ? g.itemBox[m.item] : -1)));
    ctx.lineWidth = 1 / Math.max(s, 0.5);
    for (const b of g.boxes) {
      if (b.t !== 2 || !inView(b.x, b.y, b.w, b.h)) continue;
      ctx.fillStyle = g.status && g.status.groups[b.i] ? withAlpha(colours[g.status.groups[b.i]], 0.12) : colours['frame-fill'];
      ctx.strokeStyle = colours.frame; ctx.setLineDash([4, 3]);
      roundRect(b.x, b.y, b.w, b.h, 8); ctx.fill(); ctx.stroke(); ctx.setLineDash([]);
      if (text) { ctx.fillStyle = colours.muted; ctx.font = '600 11px system-ui, sans-serif'; ctx.fillText('▾ ' + g.groups[b.i][1][0].slice(2) + '  (' + g.groups[b.i][1][1] + ')', b.x + 8, b.y + 14); }
    }
    ctx.strokeStyle = colours.edge; ctx.fillStyle = colours.edge;
    const selEdge = selected && selected.type === 'edge' ? selected.edge : null;
    for (const e of g.edges) {
      if (!(e.bb[0] < vx1 && e.bb[2] > vx0 && e.bb[1] < vy1 && e.bb[3] > vy0)) continue;
      const hot = e === selEdge;
      ctx.beginPath(); curve(ctx, e.pts);
      if (hot) { ctx.save(); ctx.strokeStyle = colours.select; ctx.lineWidth = 3 / s; ctx.stroke(); ctx.restore(); } else ctx.stroke();
      const [x, y] = e.pts[e.pts.length - 1];
      if (s > 0.25) { ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x - 3.5, y - 7); ctx.lineTo(x + 3.5, y - 7); ctx.closePath(); ctx.fill(); }
    }
    g.boxes.forEach((b, k) => {
      if (b.t === 2 || !inView(b.x, b.y, b.w, b.h)) return;
      const it = b.t === 0 ? g.items[b.i] : null;
      ctx.globalAlpha = b.t === 0 ? colours.alpha : 1;
      ctx.fillStyle = fillFor(g, b);
      roundRect(b.x, b.y, b.w, b.h, b.t === 1 ? 7 : 5); ctx.fill();
      ctx.globalAlpha = 1;
      const isSel = selected && ((selected.type === 'item' && b.t === 0 && selected.item === b.i) || (selected.type === 'group' && b.t === 1 && selected.group === b.i));
      ctx.lineWidth = (isSel || hits.has(k) ? 3 : 1) / Math.max(s, 0.5);
      ctx.strokeStyle = isSel ? colours.select : hits.has(k) ? colours.match : b.t === 1 ? colours.frame : colours.line;
      if (b.t === 1) { ctx.setLineDash([5, 3]); }
      ctx.stroke(); ctx.setLineDash([]);
      if (!text) return;
      const status = g.status && (b.t === 0 ? g.status.items[b.i] : g.status.groups[b.i]);
      ctx.fillStyle = status === 'first' ? colours['first-text'] : colours['node-text'];
      const lines = b.t === 1 ? g.groups[b.i][1] : [it[2], it[3], it[4]].filter(Boolean);
      lines.forEach((line, n) => {
        ctx.font = n === 0 ? '600 11px system-ui, sans-serif' : '11px system-ui, sans-serif';
        ctx.fillText(line, b.x + 8, b.y + 16 + n * 14, b.w - 12);
      });
    });
    drawMinimap();
  }
  function roundRect(x, y, w, h, r) {
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(x, y, w, h, r); else ctx.rect(x, y, w, h);
  }
  function withAlpha(colour, a) {
    const m = /^#([0-9a-f]{6})$/i.exec(colour);
    if (!m) return colour;
    const n = parseInt(m[1], 16);
    return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
  }

  // ---------- minimap ----------
  let mini = null;
  function drawMinimapBase() {
    const g = G, W = minimap.width, H = minimap.height;
    const k = Math.min((W - 10) / g.bounds.w, (H - 10) / g.bounds.h);
    const ox = (W - g.bounds.w * k) / 2, oy = (H - g.bounds.h * k) / 2;
    const base = document.createElement('canvas'); base.width = W; base.height = H;
    const c = base.getContext('2d');
    c.fillStyle = colours.muted;
    for (const b of g.boxes) {
      if (b.t === 2) continue;
      c.globalAlpha = b.t === 1 ? 0.6 : 0.8;
      c.fillRect(ox + b.x * k, oy + b.y * k, Math.max(1, b.w * k), Math.max(1, b.h * k));
    }
    mini = { base, k, ox, oy };
  }
  function drawMinimap() {
    if (!mini) return;
    mctx.clearRect(0, 0, minimap.width, minimap.height);
    mctx.drawImage(mini.base, 0, 0);
    const [x0, y0, x1, y1] = visibleRect(), k = mini.k;
    mctx.strokeStyle = colours.select; mctx.lineWidth = 1.5;
    mctx.strokeRect(mini.ox + x0 * k, mini.oy + y0 * k, (x1 - x0) * k, (y1 - y0) * k);
  }
  function minimapJump(ev) {
    const r = minimap.getBoundingClientRect();
    const gx = (ev.clientX - r.left - mini.ox) / mini.k, gy = (ev.clientY - r.top - mini.oy) / mini.k;
    centreOn(gx, gy, view.scale);
  }

  // ---------- navigation ----------
  function fit() {
    const W = stage.clientWidth, H = stage.clientHeight, b = G.bounds;
    const s = Math.min(1.5, Math.max(0.02, Math.min((W - 40) / b.w, (H - 40) / b.h)));
    view.scale = s; view.tx = (W - b.w * s) / 2; view.ty = Math.max(20, (H - b.h * s) / 2);
    redraw();
  }
  function initialView() {       // fit when that stays readable, else 100% at the top of the graph
    const W = stage.clientWidth, H = stage.clientHeight, b = G.bounds;
    if (Math.min((W - 40) / b.w, (H - 40) / b.h) >= 0.7) { fit(); return; }
    const s = Math.min(1, Math.max(0.7, (W - 40) / b.w));
    const first = G.boxes.find((x) => x.t !== 2) || { x: 0, w: b.w };
    view.scale = s; view.tx = W / 2 - (first.x + first.w / 2) * s; view.ty = 20;
    redraw();
  }
  function zoomAt(f, cx, cy) {
    const s = Math.min(4, Math.max(0.01, view.scale * f));
    view.tx = cx - (cx - view.tx) * (s / view.scale); view.ty = cy - (cy - view.ty) * (s / view.scale); view.scale = s;
    redraw();
  }
  function centreOn(x, y, s) {
    view.scale = s; view.tx = stage.clientWidth / 2 - x * s; view.ty = stage.clientHeight / 2 - y * s; redraw();
  }
  function showGraph(index, keepView) {
    if (G && G.index !== index) selected = null;  // item and edge references belong to one graph
    G = graphs[index];
    if (!G.boxes.length) { overlayStatus(G); relayout(G); } else drawMinimapBase();
    crumbs();
    if (!keepView) initialView();
    status();
  }
  function crumbs() {
    const nav = $('crumbs'); nav.textContent = '';
    const chain = [];
    for (let g = G; g; g = g.data.up === null ? null : graphs[g.data.up]) chain.unshift(g);
    chain.forEach((g, i) => {
      if (i) { const s = document.createElement('span'); s.className = 'sep'; s.textContent = '›'; nav.append(s); }
      const label = g.index === 0 ? `${VIEW.model.name} (${VIEW.model.format || 'graph'})` : g.data.title;
      if (g === G) nav.append(document.createTextNode(label));
      else { const a = document.createElement('a'); a.textContent = label; a.onclick = () => showGraph(g.index); nav.append(a); }
    });
  }
  function status() {
    const shown = G.boxes.filter((b) => b.t !== 2).length;
    $('status').textContent = `${VIEW.model.nodes} nodes · ${shown} boxes shown · ${Math.round(view.scale * 100)}%`;
  }
  function toggleGroup(j) {
    if (G.open.has(j)) G.open.delete(j); else G.open.add(j);
    const before = G.groupBox[j] >= 0 ? G.boxes[G.groupBox[j]] : null;
    relayout(G);
    const after = G.boxes[G.groupBox[j]];
    if (before && after) { view.tx += (before.x - after.x) * view.scale; view.ty += (before.y - after.y) * view.scale; }
    status(); redraw();
  }
  function reveal(g, item) {
    if (G !== g) showGraph(g.index, true);
    let changed = false;
    for (const j of ancestors(g, item)) if (!g.open.has(j)) { g.open.add(j); changed = true; }
    if (changed) relayout(g);
    const b = g.boxes[g.itemBox[item]];
    centreOn(b.x + b.w / 2, b.y + b.h / 2, Math.max(view.scale, 0.9));
    status();
  }

  // ---------- hit testing ----------
  function toGraph(ev) {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left - view.tx) / view.scale, (ev.clientY - r.top - view.ty) / view.scale];
  }
  function hit(px, py) {
    for (let k = G.boxes.length - 1; k >= 0; k--) {
      const b = G.boxes[k];
      if (px < b.x || px > b.x + b.w || py < b.y || py > b.y + b.h) continue;
      if (b.t === 2 && py > b.y + HEADER) continue;
      return { box: b, k };
    }
    const tol = 6 / view.scale;
    let best = null, bestD = tol;
    for (const e of G.edges) {
      if (px < e.bb[0] - tol || px > e.bb[2] + tol || py < e.bb[1] - tol || py > e.bb[3] + tol) continue;
      const d = edgeDistance(e.pts, px, py);
      if (d < bestD) { bestD = d; best = e; }
    }
    return best ? { edge: best } : null;
  }
  function edgeDistance(pts, px, py) {
    let best = Infinity, prev = pts[0];
    for (let i = 0; i + 1 < pts.length; i++) {
      const [x0, y0] = pts[i], [x1, y1] = pts[i + 1], d = Math.max(12, Math.abs(y1 - y0) / 2);
      for (let t = 0.1; t <= 1.0001; t += 0.1) {
        const a = (1 - t) ** 3, b = 3 * (1 - t) ** 2 * t, c = 3 * (1 - t) * t * t, e = t ** 3;
        const q = [a * x0 + b * x0 + c * x1 + e * x1, a * y0 + b * (y0 + d) + c * (y1 - d) + e * y1];
        best = Math.min(best, segDistance(prev, q, px, py)); prev = q;
      }
    }
    return best;
  }
  function segDistance([ax, ay], [bx, by], px, py) {
    const dx = bx - ax, dy = by - ay, L = dx * dx + dy * dy;
    const t = L ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / L)) : 0;
    return Math.hypot(px - ax - t * dx, py - ay - t * dy);
  }

  // ---------- pointer and keyboard ----------
  let drag = null;
  stage.addEventListener('pointerdown', (ev) => {
    if (ev.target === minimap) { minimapJump(ev); drag = { mini: true }; minimap.setPointerCapture(ev.pointerId); return; }
    stage.focus();
    drag = { x: ev.clientX, y: ev.clientY, tx: view.tx, ty: view.ty, moved: false };
    canvas.setPointerCapture(ev.pointerId);
  });
  window.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    if (drag.mini) { minimapJump(ev); return; }
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; stage.classList.add('dragging'); }
    if (drag.moved) { view.tx = drag.tx + dx; view.ty = drag.ty + dy; redraw(); }
  });
  window.addEventListener('pointerup', (ev) => {
    const d = drag; drag = null; stage.classList.remove('dragging');
    if (!d || d.mini || d.moved || ev.target !== canvas) { status(); return; }
    const [px, py] = toGraph(ev);
    const h = hit(px, py);
    if (!h) { select(null); return; }
    if (h.edge) { select({ type: 'edge', edge: h.edge }); return; }
    const b = h.box;
    if (b.t === 0) select({ type: 'item', item: b.i });
    else { toggleGroup(b.i); select({ type: 'group', group: b.i }); }
  });
  canvas.addEventListener('dblclick', (ev) => {
    const h = hit(...toGraph(ev));
    if (h && h.box && h.box.t === 0) {
      const d = nodeDetails(G.items[h.box.i][0]);
      if (d && d.subgraphs.length) showGraph(d.subgraphs[0][1]);
    }
  });
  stage.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect(), cx = ev.clientX - r.left, cy = ev.clientY - r.top;
    const lines = ev.deltaMode === 1;
    if (ev.ctrlKey || ev.metaKey || lines) zoomAt(Math.exp(-(lines ? ev.deltaY * 16 : ev.deltaY) * 0.002), cx, cy);
    else { view.tx -= ev.deltaX; view.ty -= ev.deltaY; redraw(); }
    status();
  }, { passive: false });
  window.addEventListener('keydown', (ev) => {
    const typing = ev.target instanceof HTMLInputElement;
    if (ev.key === '/' && !typing) { ev.preventDefault(); $('search').focus(); $('search').select(); return; }
    if (typing) return;
    const step = 80, W = stage.clientWidth / 2, H = stage.clientHeight / 2;
    const keys = {
      ArrowLeft: () => { view.tx += step; }, ArrowRight: () => { view.tx -= step; },
      ArrowUp: () => { view.ty += step; }, ArrowDown: () => { view.ty -= step; },
      '+': () => zoomAt(1.25, W, H), '=': () => zoomAt(1.25, W, H), '-': () => zoomAt(0.8, W, H),
      '0': fit, f: fit, Escape: () => select(null),
      Backspace: () => { if (G.data.up !== null) showGraph(G.data.up); },
      Enter: () => { if (selected && selected.type === 'group') toggleGroup(selected.group); },
    };
    const act = keys[ev.key];
    if (act) { ev.preventDefault(); act(); redraw(); status(); }
  });
  new ResizeObserver(resize).observe(stage);
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { readColours(); drawMinimapBase(); redraw(); });

  // ---------- search ----------
  let searched = '';
  function runSearch(q) {
    searched = q;
    matches = []; matchAt = -1;
    q = q.trim().toLowerCase();
    if (q) {
      const seen = new Set();
      const add = (g, item) => { const key = g * 1e7 + item; if (!seen.has(key)) { seen.add(key); matches.push({ g, item }); } };
      for (const g of graphs) g.items.forEach((it, i) => {
        if (it[1] === 0 && (it[2].toLowerCase().includes(q) || it[0] === q || g.data.names[i].toLowerCase().includes(q))) add(g.index, i);
      });
      const byId = new Map();
      for (const g of graphs) g.items.forEach((it, i) => byId.set(it[0], [g.index, i]));
      for (const [key, v] of Object.entries(block('values'))) {
        const name = key.slice(key.indexOf(':') + 1);
        const who = byId.has(v[2]) ? v[2] : v[3][0];   // a weight has no producer: its first user
        if (name.toLowerCase().includes(q) && byId.has(who)) { const [g, i] = byId.get(who); add(g, i); }
      }
      matches.sort((a, b) => a.g - b.g || a.item - b.item);
    }
    $('count').textContent = q ? (matches.length ? `0/${matches.length}` : 'none') : '';
    redraw();
  }
  function step(dir) {
    if (!matches.length) return;
    matchAt = (matchAt + dir + matches.length) % matches.length;
    const m = matches[matchAt];
    reveal(graphs[m.g], m.item);
    select({ type: 'item', item: m.item });
    $('count').textContent = `${matchAt + 1}/${matches.length}`;
  }
  let searchTimer = 0;
  $('search').addEventListener('input', (ev) => { clearTimeout(searchTimer); searchTimer = setTimeout(() => runSearch(ev.target.value), 120); });
  $('search').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); clearTimeout(searchTimer); if (ev.target.value !== searched) runSearch(ev.target.value); step(ev.shiftKey ? -1 : 1); }
    if (ev.key === 'Escape') { ev.target.value = ''; runSearch(''); stage.focus(); }
  });
  $('next').onclick = () => step(1);
  $('prev').onclick = () => step(-1);
  $('fit').onclick = fit;
  $('zoom-in').onclick = () => zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2);
  $('zoom-out').onclick = () => zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2);
  $('expand-all').onclick = () => { G.groups.forEach((_, j) => G.open.add(j)); relayout(G); fit(); status(); };
  $('collapse-all').onclick = () => { G.open = new Set([0]); relayout(G); fit(); status(); };

  // ---------- side panel ----------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) { if (k === 'onclick') e.onclick = v; else e.setAttribute(k, v); }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid instanceof Node ? kid : String(kid));
    return e;
  }
  function table(rows, cls) {
    return el('table', {}, ...rows.map((r) => el('tr', cls && r.cls ? { class: r.cls } : {}, ...(r.cells || r).map((c) => el('td', {}, c)))));
  }
  function nodeDetails(id) {
    const row = nodeRow(parseInt(id.slice(1), 10));
    if (!row) return null;
    const d = Object.fromEntries(VIEW.node_fields.map((f, i) => [f, row[i]]));
    if (d.provenance) { const [framework, layer, layer_type, steps] = d.provenance; d.provenance = { framework, layer, layer_type, steps }; }
    return d;
  }
  function findItem(id) {
    for (const g of graphs) { const i = g.items.findIndex((it) => it[0] === id); if (i >= 0) return [g, i]; }
    return null;
  }
  function link(id, label) {
    const d = !label && id[0] === 'n' ? nodeDetails(id) : null;
    const text = label || (d && d.name && d.name !== id ? `${d.name} (${id})` : id);
    return el('a', { 'data-id': id, onclick: () => { const f = findItem(id); if (f) { reveal(f[0], f[1]); select({ type: 'item', item: f[1] }); } } }, text);
  }
  function select(sel) {
    selected = sel;
    panel.textContent = '';
    if (!sel) showModel();
    else if (sel.type === 'item') showItem(sel.item);
    else if (sel.type === 'group') showGroup(sel.group);
    else showEdge(sel.edge || sel);
    redraw();
  }
  function fmt(v) {
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return v.toLocaleString('en');
    return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : v.toPrecision(6).replace(/\.?0+$/, '');
  }
  function showModel() {
    const m = VIEW.model;
    panel.append(el('h2', {}, m.name), el('div', { class: 'sub' }, `${m.format || 'graph'} · ${m.nodes.toLocaleString('en')} nodes`));
    const S = VIEW.summary;
    const rows = [['Format', [S.format.source_format, S.format.format_version].filter(Boolean).join(' ')], ['Producer', S.format.producer || '—'],
      ['Opset', Object.entries(S.opset).map(([d, v]) => `${d} ${v}`).join(', ')],
      ['Stored weights', `${fmt(S.parameters.count)} values in ${fmt(S.parameters.tensors)} tensors`]];
    if (S.labels) rows.push(['Labels', fmt(S.labels)]);
    panel.append(table(rows));
    panel.append(el('h3', {}, 'Inputs and outputs'), table([...S.inputs.map(([n, t, s]) => ['in ' + n, `${t || '?'} ${s}`]),
      ...S.outputs.map(([n, t, s]) => ['out ' + n, `${t || '?'} ${s}`])]));
    if (S.transforms.length) panel.append(el('h3', {}, 'Transformations on import'), table(S.transforms.map(([kind, text, n]) => [kind, `${text} (${n})`])));
    const props = Object.entries(S.properties);
    if (props.length || S.notes.length) panel.append(el('h3', {}, 'Metadata'), table([...props, ...S.notes.map((n) => ['note', n])]));
    if (S.doc) panel.append(el('h3', {}, 'Doc'), el('pre', {}, S.doc));
    panel.append(el('p', { class: 'note' }, 'Click a node, group or edge. Keys: / search, arrows pan, + − zoom, 0 fit, Backspace leaves a subgraph.'));
  }
  function showItem(i) {
    const it = G.items[i];
    if (it[1] !== 0) {             // a graph input or output
      panel.append(el('h2', {}, it[2]), el('div', { class: 'sub' }, `${it[1] === 1 ? 'graph input' : 'graph output'} ${it[0]} · ${it[3]}`));
      const v = block('values')[`${G.index}:${it[2]}`];
      if (v) panel.append(valueTable(it[2], v));
      return;
    }
    const d = nodeDetails(it[0]);
    panel.append(el('h2', {}, d.op), el('div', { class: 'sub' }, `${d.name} · ${d.id}${d.scope ? ' · in ' + d.scope : ''}`));
    const mark = OVERLAY && OVERLAY.nodes[d.id];
    if (mark) panel.append(el('h3', {}, 'Parity'), figures(mark));
    if (d.subgraphs.length) panel.append(el('h3', {}, 'Subgraphs'), el('div', {}, ...d.subgraphs.map(([attr, gi]) => el('button', { onclick: () => showGraph(gi) }, `open ${attr} (${graphs[gi].items.filter((x) => x[1] === 0).length} nodes)`))));
    if (d.attributes.length) {
      panel.append(el('h3', {}, 'Attributes'));
      panel.append(table(d.attributes.map(([k, v, dflt]) => ({ cells: [k, v + (dflt ? ' (default)' : '')], cls: dflt ? 'default' : '' })), true));
      for (const a of d.attributes) if (a[3]) panel.append(weight(a[0], weightStats(a[3])));
    }
    panel.append(el('h3', {}, 'Inputs'));
    panel.append(table(d.inputs.map(([role, name, dtype, shape, kind]) => [role, kind === 'omitted' ? '(omitted)' : el('span', {}, tensorLink(name), ` ${dtype || '?'} ${shape}${kind === 'weight' ? ' · weight' : kind === 'outer' ? ' · from enclosing graph' : ''}`)])));
    for (const inp of d.inputs) if (inp[4] === 'weight') panel.append(weight(`${inp[0]}: ${inp[1]}`, weightStats(inp[5])));
    panel.append(el('h3', {}, 'Outputs'));
    panel.append(table(d.outputs.map(([name, dtype, shape]) => {
      const v = block('values')[`${G.index}:${name}`];
      const users = v ? v[3] : [];
      return [tensorLink(name), el('span', {}, `${dtype || '?'} ${shape}`, users.length ? ' → ' : '', ...users.slice(0, 12).flatMap((u, n) => [n ? ', ' : '', link(u)]), users.length > 12 ? ` … (${users.length})` : '')];
    })));
    if (d.provenance) {
      const p = d.provenance;
      panel.append(el('h3', {}, 'Provenance'), table([['Framework', p.framework], ['Layer', `${p.layer} (${p.layer_type})`], ...(d.layout ? [['Layout', d.layout]] : [])]));
      if (p.steps.length) panel.append(el('ol', { class: 'steps' }, ...p.steps.map(([kind, t]) => el('li', {}, el('code', {}, kind), ' ', t))));
      else panel.append(el('div', { class: 'note' }, 'no transformation applied on import'));
    }
    if (d.doc) panel.append(el('h3', {}, 'Doc string'), el('pre', {}, d.doc));
    const meta = Object.entries(d.metadata || {});
    if (meta.length) {                // e.g. PyTorch's stack trace and module scope
      panel.append(el('h3', {}, 'Node metadata'));
      for (const [k, v] of meta) panel.append(el('div', { class: 'note' }, k), el('pre', {}, v));
    }
    const op = d.operator && block('operators')[d.operator];
    if (op) panel.append(operatorDoc(op));
  }
  function tensorLink(name) {
    return el('a', { class: 'tensor', onclick: () => { const e = G.edges.find((x) => x.values.includes(name)); if (e) select({ type: 'edge', edge: e }); else select({ type: 'value', name }); } }, name);
  }
  function valueTable(name, v) {
    return table([['Tensor', name], ['Type', `${v[0] || '?'} ${v[1]}`], ['Producer', typeof v[2] === 'string' ? link(v[2]) : 'none: a constant (weight)'],
      ['Consumers', v[3].length ? el('span', {}, ...v[3].slice(0, 40).flatMap((u, n) => [n ? ', ' : '', link(u)])) : '—']]);
  }
  function showEdge(e) {
    if (!e.pts) {
      const v = block('values')[`${G.index}:${e.name}`];
      panel.append(el('h2', {}, e.name), el('div', { class: 'sub' }, 'tensor'));
      if (v) panel.append(valueTable(e.name, v));
      return;
    }
    panel.append(el('h2', {}, e.values.length > 1 ? `${e.values.length} tensors` : e.values[0]), el('div', { class: 'sub' }, 'edge'));
    for (const name of e.values.slice(0, 20)) {
      const v = block('values')[`${G.index}:${name}`];
      panel.append(el('h3', {}, name));
      if (v) panel.append(valueTable(name, v));
    }
  }
  function figures(mark) {
    const t = table(Object.entries(mark).filter(([k]) => k !== 'status').map(([k, v]) => [k.replace(/_/g, ' '), fmt(v)]));
    const badge = el('span', { class: 'badge', style: `background:${colours[mark.status]}` }, { first: 'first diverging layer', fail: 'outside tolerance', pass: 'within tolerance' }[mark.status]);
    return el('div', {}, badge, t);
  }
  function weightStats(key) {
    const row = block('weights')[key];
    return row ? Object.fromEntries(VIEW.weight_fields.map((f, i) => [f, row[i]])) : null;
  }
  function weight(title, w) {
    if (!w) return el('div', { class: 'note' }, `${title}: not read`);
    const box = el('div', { class: 'weight' }, el('strong', {}, title), el('div', { class: 'sub' }, `${w.dtype} ${w.shape.length ? w.shape.join('×') : 'scalar'} · ${fmt(w.size)} values · ${fmt(w.bytes)} bytes`));
    if (w.problem) { box.append(el('div', { class: 'note' }, w.problem)); return box; }
    if (w.min !== null && w.min !== undefined) box.append(table([['min / max', `${fmt(w.min)} / ${fmt(w.max)}`], ['mean / std', `${fmt(w.mean)} / ${fmt(w.std)}`],
      ['zeros', fmt(w.zeros)], ['NaN / Inf', `${fmt(w.nan)} / ${fmt(w.inf)}`]]));
    box.append(el('div', { class: 'note' }, w.all_values ? 'all values:' : `first ${w.values.length} values:`), el('pre', {}, w.values.map(fmt).join(', ')));
    if (w.histogram) box.append(histogram({ counts: w.histogram, low: w.min, high: w.max }));
    if (w.sampled) box.append(el('div', { class: 'note' }, `figures from a sample of ${fmt(w.counted)} values (read budget); netinspect info --tensor gives exact ones`));
    return box;
  }
  function histogram(hgram) {
    const NS = 'http://www.w3.org/2000/svg', svg = document.createElementNS(NS, 'svg');
    const n = hgram.counts.length, top = Math.max(...hgram.counts, 1);
    svg.setAttribute('class', 'hist'); svg.setAttribute('viewBox', `0 0 ${n * 10} 40`); svg.setAttribute('preserveAspectRatio', 'none');
    hgram.counts.forEach((c, i) => {
      const r = document.createElementNS(NS, 'rect'), hgt = c ? Math.max(1, (c / top) * 40) : 0;
      r.setAttribute('x', i * 10 + 1); r.setAttribute('width', 8); r.setAttribute('y', 40 - hgt); r.setAttribute('height', hgt);
      const t = document.createElementNS(NS, 'title'); t.textContent = `${c}`; r.append(t); svg.append(r);
    });
    return el('div', {}, svg, el('div', { class: 'note' }, `histogram ${fmt(hgram.low)} … ${fmt(hgram.high)}`));
  }
  function operatorDoc(op) {
    const box = el('details', {}, el('summary', {}, `${op.domain} ${op.name} — operator documentation (since opset ${op.since})`));
    box.append(el('pre', {}, op.doc || '(no description)'));
    if (op.attributes.length) box.append(el('h3', {}, 'Attributes'), table(op.attributes.map(([n, t, req, d, dflt]) => [n, `${t}${req ? ', required' : ''}${dflt !== null ? `, default ${dflt}` : ''}. ${d}`])));
    box.append(el('h3', {}, 'Inputs'), table(op.inputs.map(([n, t, o, d]) => [n, `${t}${o ? ` (${o})` : ''}: ${d}`])));
    box.append(el('h3', {}, 'Outputs'), table(op.outputs.map(([n, t, o, d]) => [n, `${t}${o ? ` (${o})` : ''}: ${d}`])));
    if (op.constraints.length) box.append(el('h3', {}, 'Type constraints'), table(op.constraints.map(([p, types, d]) => [p, `${types.join(', ')}. ${d}`])));
    return box;
  }
  function showGroup(j) {
    const grp = G.groups[j];
    const ops = {};
    G.items.forEach((it, i) => { if (it[1] === 0 && ancestors(G, i).includes(j)) ops[it[2]] = (ops[it[2]] || 0) + 1; });
    panel.append(el('h2', {}, grp[0] || 'model'), el('div', { class: 'sub' }, `group · ${grp[1][1]} · ${G.open.has(j) ? 'open' : 'closed'}`));
    panel.append(el('button', { onclick: () => { toggleGroup(j); select({ type: 'group', group: j }); } }, G.open.has(j) ? 'Collapse' : 'Expand'));
    panel.append(el('h3', {}, 'Operators'), table(Object.entries(ops).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v])));
    if (G.status && G.status.groups[j]) panel.append(el('div', { class: 'note' }, `worst parity inside: ${G.status.groups[j]}`));
  }

  // ---------- overlay legend ----------
  function legend() {
    if (!OVERLAY) return;
    const box = $('legend'); box.hidden = false;
    box.append(el('strong', {}, `Parity: ${OVERLAY.model} — ${OVERLAY.status}`));
    for (const [key, text] of OVERLAY.legend) box.append(el('div', {}, el('span', { class: 'sw', style: `background:${colours[key]}` }), text));
    box.append(el('div', {}, el('span', { class: 'sw', style: `background:${colours.none}` }), 'not compared'));
    if (OVERLAY.tolerance) box.append(el('div', { class: 'note' }, `tolerance rtol=${OVERLAY.tolerance.rtol} atol=${OVERLAY.tolerance.atol}`));
    if (OVERLAY.first) box.append(el('div', {}, `first divergence: ${OVERLAY.first}`));
  }

  // ---------- start ----------
  readColours();
  resize();
  showGraph(0);
  legend();
  requestAnimationFrame(() => {
    draw();
    performance.mark('netinspect-first-paint');
    document.body.dataset.ready = '1';
    setTimeout(() => { if (!selected) select(null); }, 0);
  });
  window.netinspect = {
    locate(id) {
      const f = id.startsWith('g:') ? null : findItem(id);
      let b;
      if (f) { if (G !== f[0]) return null; b = G.itemBox[f[1]] >= 0 ? G.boxes[G.itemBox[f[1]]] : null; }
      else { const j = G.groups.findIndex((grp) => grp[0] === id.slice(2)); b = j >= 0 && G.groupBox[j] >= 0 ? G.boxes[G.groupBox[j]] : null; }
      if (!b) return null;
      const r = canvas.getBoundingClientRect();
      return { x: r.left + view.tx + b.x * view.scale, y: r.top + view.ty + b.y * view.scale, w: b.w * view.scale, h: b.h * view.scale, open: b.t === 2 };
    },
    centre(id) { const f = findItem(id); if (f) reveal(f[0], f[1]); draw(); },
    shown() { return G.boxes.filter((b) => b.t !== 2).map((b) => (b.t === 0 ? G.items[b.i][0] : 'g:' + G.groups[b.i][0])); },
    graph() { return G.index; },
    into(id) {                    // the drawn edges ending at a node: where they come from, their points
      const f = findItem(id);
      if (!f || f[0] !== G) return [];
      const k = G.itemBox[f[1]], name = (b) => (b.t === 0 ? G.items[b.i][0] : 'g:' + G.groups[b.i][0]);
      const b = G.boxes[k];
      return G.edges.filter((e) => e.to === k).map((e) => ({ from: name(G.boxes[e.from]), pts: e.pts, box: [b.x, b.y, b.w, b.h] }));
    },
    nodes() { return Array.from({ length: VIEW.model.nodes }, (_, k) => nodeDetails('n' + k)); },
    view() { return { ...view }; },
    edge(value) {                 // screen point in the middle of the first stretch of the edge carrying `value`
      const e = G.edges.find((x) => x.values.includes(value));
      if (!e) return null;
      const r = canvas.getBoundingClientRect(), [a, b] = [e.pts[0], e.pts[1]];
      return { x: r.left + view.tx + ((a[0] + b[0]) / 2) * view.scale, y: r.top + view.ty + ((a[1] + b[1]) / 2) * view.scale };
    },
  };
})();
