// input.js: what the pointer, the wheel, the keyboard and the toolbar buttons do; hit testing of
// boxes and edges under the pointer.

function toGraph(ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left - view.tx) / view.scale, (ev.clientY - r.top - view.ty) / view.scale];
}
/** The box (an open group's frame only by its title bar) or else the nearest edge at a point. */
function hit(px, py) {
  for (let k = G.boxes.length - 1; k >= 0; k--) {
    const b = G.boxes[k];
    if (px < b.x || px > b.x + b.w || py < b.y || py > b.y + b.h) continue;
    if (b.t === FRAME && py > b.y + HEADER) continue;
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

let drag = null;
stage.addEventListener('pointerdown', (ev) => {
  if (ev.target === minimap) {
    minimapJump(ev); drag = { mini: true }; minimap.setPointerCapture(ev.pointerId);
    return;
  }
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
  if (b.t === ITEM) select({ type: 'item', item: b.i });
  else { toggleGroup(b.i); select({ type: 'group', group: b.i }); }
});
canvas.addEventListener('dblclick', (ev) => {
  const h = hit(...toGraph(ev));
  if (h && h.box && h.box.t === ITEM) {
    const d = nodeDetails(G.items[h.box.i].id);
    if (d && d.subgraphs.length) showGraph(d.subgraphs[0].graph);
  }
});
stage.addEventListener('wheel', (ev) => {
  ev.preventDefault();
  const r = canvas.getBoundingClientRect(), cx = ev.clientX - r.left, cy = ev.clientY - r.top;
  const lines = ev.deltaMode === 1;
  const dy = lines ? ev.deltaY * 16 : ev.deltaY;
  if (ev.ctrlKey || ev.metaKey || lines) zoomAt(Math.exp(-dy * 0.002), cx, cy);
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
    '0': fit, f: fit, g: switchGraph, Escape: () => select(null),
    Backspace: () => { if (G.data.up !== null) showGraph(G.data.up); },
    Enter: () => { if (selected && selected.type === 'group') toggleGroup(selected.group); },
  };
  const act = keys[ev.key];
  if (act) { ev.preventDefault(); act(); redraw(); status(); }
});
new ResizeObserver(resize).observe(stage);
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  readColours(); drawMinimapBase(); redraw();
});

$('fit').onclick = fit;
$('switch').onclick = switchGraph;
$('zoom-in').onclick = () => zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2);
$('zoom-out').onclick = () => zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2);
$('expand-all').onclick = () => { G.groups.forEach((_, j) => G.open.add(j)); relayout(G); fit(); status(); };
$('collapse-all').onclick = () => { G.open = new Set([0]); relayout(G); fit(); status(); };
