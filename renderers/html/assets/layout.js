// layout.js: coordinates from the ranks and orders computed in Python (graph_layout.py), in one
// linear pass, redone when a group opens or closes; then the edges' routes between the boxes.

/** Lay out group j's members (open child groups first, recursively) into rel[j]; its size. */
function layoutGroup(g, j, rel) {
  const grp = g.groups[j], members = grp.members, virt = grp.virtual;
  const n = members.length, total = n + virt.length;
  const w = new Float64Array(total), h = new Float64Array(total);
  const x = new Float64Array(total), y = new Float64Array(total);
  const rk = new Int32Array(total), od = new Int32Array(total);
  for (let m = 0; m < n; m++) {
    const ref = members[m];
    if (ref >= 0) { w[m] = g.items[ref].w; h[m] = g.items[ref].h; }
    else {
      const c = -ref - 1;
      if (g.open.has(c)) { const s = layoutGroup(g, c, rel); w[m] = s.w; h[m] = s.h; }
      else { w[m] = g.groups[c].w; h[m] = g.groups[c].h; }
    }
    rk[m] = grp.rank[m]; od[m] = grp.order[m];
  }
  for (let v = 0; v < virt.length; v++) {
    w[n + v] = VIRTUAL_W; h[n + v] = 2; rk[n + v] = virt[v].rank; od[n + v] = virt[v].order;
  }
  let ranks = 0;
  for (let e = 0; e < total; e++) ranks = Math.max(ranks, rk[e] + 1);
  const rows = Array.from({ length: ranks }, () => []);
  for (let e = 0; e < total; e++) rows[rk[e]].push(e);
  rows.forEach((row) => row.sort((a, b) => od[a] - od[b]));
  const upN = Array.from({ length: total }, () => []), downN = Array.from({ length: total }, () => []);
  for (const { source, target, chain } of grp.edges) {
    const seq = [source, ...chain.map((v) => n + v), target];
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
    for (let i = anchor + 1; i < row.length; i++) {
      x[row[i]] = Math.max(want[i], x[row[i - 1]] + w[row[i - 1]] + GAP);
    }
    for (let i = anchor - 1; i >= 0; i--) x[row[i]] = Math.min(want[i], x[row[i + 1]] - GAP - w[row[i]]);
  };
  for (let r = 1; r < ranks; r++) place(rows[r], upN);
  for (let r = ranks - 2; r >= 0; r--) place(rows[r], downN);
  for (let r = 1; r < ranks; r++) place(rows[r], upN);
  let minX = Infinity, maxX = -Infinity, maxY = 0;
  for (let e = 0; e < total; e++) {
    minX = Math.min(minX, x[e]); maxX = Math.max(maxX, x[e] + w[e]); maxY = Math.max(maxY, y[e] + h[e]);
  }
  if (!total) { minX = 0; maxX = 60; }
  const framed = j !== 0, dx = (framed ? PAD : 0) - minX, dy = framed ? HEADER + 6 : 0;
  for (let e = 0; e < total; e++) { x[e] += dx; y[e] += dy; }
  rel[j] = { x, y, w, h, n };
  const titleW = framed ? grp.lines[0].length * 7 + 30 : 0;
  return { w: Math.max(maxX - minX + (framed ? 2 * PAD : 0), titleW), h: maxY + dy + (framed ? PAD : 0) };
}

/** Boxes of graph g (items, closed groups, open groups' frames) at absolute coordinates. */
function relayout(g) {
  const rel = {};
  const size = layoutGroup(g, 0, rel);
  g.itemBox = new Int32Array(g.items.length).fill(-1);
  g.groupBox = new Int32Array(g.groups.length).fill(-1);
  g.vabs = {};
  const frames = [], boxes = [];
  const hide = (j, box) => {          // every item inside closed group j is shown by `box`
    for (const ref of g.groups[j].members) { if (ref >= 0) g.itemBox[ref] = box; else hide(-ref - 1, box); }
  };
  const put = (j, ox, oy) => {
    const r = rel[j], members = g.groups[j].members;
    for (let m = 0; m < r.n; m++) {
      const ref = members[m], bx = ox + r.x[m], by = oy + r.y[m];
      if (ref >= 0) { boxes.push({ t: ITEM, i: ref, x: bx, y: by, w: r.w[m], h: r.h[m] }); continue; }
      const c = -ref - 1;
      if (g.open.has(c)) {
        frames.push({ t: FRAME, i: c, x: bx, y: by, w: r.w[m], h: r.h[m] });
        put(c, bx, by);
      } else boxes.push({ t: CLOSED, i: c, x: bx, y: by, w: r.w[m], h: r.h[m] });
    }
    const virt = [];
    for (let v = r.n; v < r.x.length; v++) virt.push([ox + r.x[v] + VIRTUAL_W / 2, oy + r.y[v] + 1]);
    g.vabs[j] = virt;
  };
  put(0, 0, 0);
  g.boxes = frames.concat(boxes);
  g.boxes.forEach((b, k) => {
    if (b.t === ITEM) g.itemBox[b.i] = k;
    else { g.groupBox[b.i] = k; if (b.t === CLOSED) hide(b.i, k); }
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

/** The drawn edges: one per pair of shown boxes, carrying every value between them. */
function routeEdges(g) {
  const seen = new Map();
  g.edges = [];
  for (const link of g.links) {
    const a = g.itemBox[link.source], b = g.itemBox[link.target];
    if (a < 0 || b < 0 || a === b) continue;
    const key = a * 4194304 + b;
    const known = seen.get(key);
    if (known !== undefined) { g.edges[known].values.push(link.value); continue; }
    const A = g.boxes[a], B = g.boxes[b], level = g.groups[link.level];
    const { source, target, chain } = level.edges[link.level_edge];
    const CA = openFrame(g, level.members[source]), CB = openFrame(g, level.members[target]);
    const pts = [[A.x + A.w / 2, A.y + A.h]];
    // An end deep inside an open group leaves or enters it along the group's right side, so it
    // does not run over the boxes stacked above or below it (a residual skip into its Add).
    if (CA && A.y + A.h < CA.y + CA.h - PAD - 4) {
      const lane = CA.x + CA.w + 6;
      pts.push([lane, A.y + A.h + 10], [lane, CA.y + CA.h]);
    }
    const virt = g.vabs[link.level] || [];
    for (const c of chain) if (virt[c]) pts.push(virt[c]);
    if (CB && B.y > CB.y + HEADER + 10) {
      const lane = CB.x + CB.w + 6;
      pts.push([lane, CB.y], [lane, B.y - 10]);
    }
    pts.push([B.x + B.w / 2, B.y]);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [px, py] of pts) {
      x0 = Math.min(x0, px); y0 = Math.min(y0, py); x1 = Math.max(x1, px); y1 = Math.max(y1, py);
    }
    seen.set(key, g.edges.length);
    g.edges.push({
      from: a, to: b, pts, values: [link.value], bb: [x0 - 4, y0 - 4, x1 + 4, y1 + 4],
      u: link.source, v: link.target,
    });
  }
}
