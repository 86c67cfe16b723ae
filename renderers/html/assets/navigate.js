// navigate.js: which graph is shown and where the view looks — fit, zoom, centre, the breadcrumb
// of subgraphs, opening and closing groups, revealing an item inside closed groups.

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
  const first = G.boxes.find((x) => x.t !== FRAME) || { x: 0, w: b.w };
  view.scale = s; view.tx = W / 2 - (first.x + first.w / 2) * s; view.ty = 20;
  redraw();
}
function zoomAt(f, cx, cy) {
  const s = Math.min(4, Math.max(0.01, view.scale * f));
  view.tx = cx - (cx - view.tx) * (s / view.scale); view.ty = cy - (cy - view.ty) * (s / view.scale);
  view.scale = s;
  redraw();
}
function centreOn(x, y, s) {
  view.scale = s; view.tx = stage.clientWidth / 2 - x * s; view.ty = stage.clientHeight / 2 - y * s;
  redraw();
}
function showGraph(index, keepView) {
  if (G && G.index !== index) { selected = null; partners = new Set(); }  // references of one graph
  G = graphs[index];
  if (VIEW.source !== null) {
    $('switch').textContent = G.index === VIEW.source ? 'ONNX graph' : 'Source layers';
  }
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
    if (i) {
      const s = document.createElement('span'); s.className = 'sep'; s.textContent = '›'; nav.append(s);
    }
    const model = `${VIEW.model.name} (${VIEW.model.format || 'graph'})`;
    let drawing = '';
    if (VIEW.source !== null) drawing = g.index === VIEW.source ? ' · source layers' : ' · ONNX graph';
    const label = g.data.up === null && g.data.owner === null ? model + drawing : g.data.title;
    if (g === G) { nav.append(document.createTextNode(label)); return; }
    const a = document.createElement('a'); a.textContent = label; a.onclick = () => showGraph(g.index);
    nav.append(a);
  });
}
function status() {
  const shown = G.boxes.filter((b) => b.t !== FRAME).length;
  const count = G.index === VIEW.source ? `${VIEW.model.layers} layers` : `${VIEW.model.nodes} nodes`;
  const zoom = Math.round(view.scale * 100);
  $('status').textContent = `${count} · ${shown} boxes shown · ${zoom}%`;
}
function toggleGroup(j) {
  if (G.open.has(j)) G.open.delete(j); else G.open.add(j);
  const before = G.groupBox[j] >= 0 ? G.boxes[G.groupBox[j]] : null;
  relayout(G);
  const after = G.boxes[G.groupBox[j]];
  if (before && after) {        // the group stays where it was on screen
    view.tx += (before.x - after.x) * view.scale; view.ty += (before.y - after.y) * view.scale;
  }
  status(); redraw();
}
/** Show graph g with `item` drawn (its closed groups opened) and centred. */
function reveal(g, item) {
  if (G !== g) showGraph(g.index, true);
  let changed = false;
  for (const j of ancestors(g, item)) if (!g.open.has(j)) { g.open.add(j); changed = true; }
  if (changed) relayout(g);
  const b = g.boxes[g.itemBox[item]];
  centreOn(b.x + b.w / 2, b.y + b.h / 2, Math.max(view.scale, 0.9));
  status();
}

// ---------- the two drawings of a model read from another format ----------
/** Ids in the other drawing standing for item `id`: a source layer's ONNX nodes, a node's layers. */
function counterparts(id) {
  if (/^s\d+$/.test(id)) return layerDetails(id).nodes;
  if (/^n\d+$/.test(id)) return nodeDetails(id).layers;
  return [];
}
/** Show the other drawing (source layers ⇄ ONNX graph) with the selection's counterparts marked. */
function switchGraph() {
  if (VIEW.source === null) return;
  const from = selected && selected.type === 'item' ? G.items[selected.item].id : null;
  const ids = from ? counterparts(from) : [];
  showGraph(G.index === VIEW.source ? 0 : VIEW.source);
  if (ids.length) markPartners(ids);
}
/** Open `ids` in the drawing shown: the first selected and centred, all of them marked. */
function markPartners(ids) {
  const first = itemIndex(G, ids[0]);
  if (first === undefined) return;
  for (const id of ids.slice(1)) {       // every counterpart drawn, not hidden in a closed group
    const i = itemIndex(G, id);
    if (i !== undefined) for (const j of ancestors(G, i)) G.open.add(j);
  }
  reveal(G, first);
  select({ type: 'item', item: first });
  partners = new Set(ids);
  redraw();
}
/** A link to counterparts in the other drawing: switches to it and marks them. */
function partnerLink(ids, text) {
  const go = () => { showGraph(G.index === VIEW.source ? 0 : VIEW.source); markPartners(ids); };
  return el('a', { 'data-id': ids[0], onclick: go }, text);
}
