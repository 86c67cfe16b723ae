// start.js: the check overlay's legend, the first paint, and `window.netinspect`, the handles the
// browser tests and the benchmark use to find what is drawn where.

function legend() {
  if (!OVERLAY) return;
  const box = $('legend'); box.hidden = false;
  const swatch = (colour) => el('span', { class: 'sw', style: `background:${colour}` });
  box.append(el('strong', {}, `Parity: ${OVERLAY.model} — ${OVERLAY.status}`));
  for (const entry of OVERLAY.legend) box.append(el('div', {}, swatch(colours[entry.status]), entry.text));
  box.append(el('div', {}, swatch(colours.none), 'not compared'));
  const tol = OVERLAY.tolerance;
  if (tol) box.append(el('div', { class: 'note' }, `tolerance rtol=${tol.rtol} atol=${tol.atol}`));
  if (OVERLAY.first) box.append(el('div', {}, `first divergence: ${OVERLAY.first}`));
}

readColours();
resize();
$('switch').hidden = VIEW.source === null;
showGraph(VIEW.start);
legend();
requestAnimationFrame(() => {
  draw();
  performance.mark('netinspect-first-paint');
  document.body.dataset.ready = '1';
  setTimeout(() => { if (!selected) select(null); }, 0);
});

const boxName = (b) => (b.t === ITEM ? G.items[b.i].id : 'g:' + G.groups[b.i].name);
window.netinspect = {
  /** Where item `id` (or group `g:<name>`) is drawn on screen, or null. */
  locate(id) {
    let b = null;
    if (id.startsWith('g:')) {
      const j = G.groups.findIndex((grp) => grp.name === id.slice(2));
      b = j >= 0 && G.groupBox[j] >= 0 ? G.boxes[G.groupBox[j]] : null;
    } else {
      const f = findItem(id);
      if (!f || G !== f[0]) return null;
      b = G.itemBox[f[1]] >= 0 ? G.boxes[G.itemBox[f[1]]] : null;
    }
    if (!b) return null;
    const r = canvas.getBoundingClientRect(), s = view.scale;
    const x = r.left + view.tx + b.x * s, y = r.top + view.ty + b.y * s;
    return { x, y, w: b.w * s, h: b.h * s, open: b.t === FRAME };
  },
  centre(id) { const f = findItem(id); if (f) reveal(f[0], f[1]); draw(); },
  shown() { return G.boxes.filter((b) => b.t !== FRAME).map(boxName); },
  /** The first label line (op, layer type, value name) of every item box drawn. */
  labels() { return G.boxes.filter((b) => b.t === ITEM).map((b) => G.items[b.i].lines[0]); },
  graph() { return G.index; },
  /** The index of the source layers' drawing (null for an ONNX file). */
  source() { return VIEW.source; },
  /** The counterparts marked after a switch of drawing. */
  partners() { return [...partners]; },
  layers() { return Array.from({ length: VIEW.model.layers }, (_, k) => layerDetails('s' + k)); },
  /** The drawn edges ending at a node: where they come from, their points, the node's box. */
  into(id) {
    const f = findItem(id);
    if (!f || f[0] !== G) return [];
    const k = G.itemBox[f[1]], b = G.boxes[k];
    return G.edges.filter((e) => e.to === k)
      .map((e) => ({ from: boxName(G.boxes[e.from]), pts: e.pts, box: [b.x, b.y, b.w, b.h] }));
  },
  nodes() { return Array.from({ length: VIEW.model.nodes }, (_, k) => nodeDetails('n' + k)); },
  view() { return { ...view }; },
  /** The screen point in the middle of the first stretch of the edge carrying `value`. */
  edge(value) {
    const e = G.edges.find((x) => x.values.includes(value));
    if (!e) return null;
    const r = canvas.getBoundingClientRect(), [a, b] = [e.pts[0], e.pts[1]];
    const s = view.scale;
    return { x: r.left + view.tx + ((a[0] + b[0]) / 2) * s, y: r.top + view.ty + ((a[1] + b[1]) / 2) * s };
  },
};
