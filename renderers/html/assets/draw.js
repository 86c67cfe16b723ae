// draw.js: colours (the stylesheet's, light or dark), the check overlay's statuses, the canvas
// drawing of what is in view, and the minimap.

function readColours() {
  const css = getComputedStyle(document.documentElement);
  const names = ['bg', 'fg', 'muted', 'line', 'edge', 'frame', 'frame-fill', 'select', 'match',
    'node-text', 'pass', 'fail', 'first', 'first-text', 'none'];
  for (const k of names) colours[k] = css.getPropertyValue('--' + k).trim();
  colours.alpha = parseFloat(css.getPropertyValue('--node-alpha')) || 1;
}

const RANK = { pass: 1, fail: 2, first: 3 };
/** Each item's parity status from the overlay, and each group's worst status inside. */
function overlayStatus(g) {
  if (!OVERLAY) return;
  g.status = { items: new Array(g.items.length).fill(null), groups: new Array(g.groups.length).fill(null) };
  const worst = (ids) => ids.map((id) => OVERLAY.nodes[id]).filter(Boolean)
    .reduce((a, b) => (!a || RANK[b.status] > RANK[a.status] ? b : a), null);
  g.items.forEach((it, i) => {     // a source layer shows the worst mark of the nodes it became
    const mark = it.kind === 'layer' ? worst(layerDetails(it.id).nodes) : OVERLAY.nodes[it.id];
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
    const s = box.t === ITEM ? g.status.items[box.i] : g.status.groups[box.i];
    return colours[s || 'none'];
  }
  if (box.t === CLOSED) return colours['frame-fill'];
  const it = g.items[box.i];
  if (it.kind === 'input') return '#93c5fd';
  if (it.kind === 'output') return '#fca5a5';
  return VIEW.categories[it.category] || VIEW.categories.other;
}

let pending = false;
function redraw() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
function resize() {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(stage.clientWidth * dpr));
  canvas.height = Math.max(1, Math.round(stage.clientHeight * dpr));
  redraw();
}
/** The part of the graph in view: [x0, y0, x1, y1] in graph coordinates. */
function visibleRect() {
  const s = view.scale;
  return [-view.tx / s, -view.ty / s, (stage.clientWidth - view.tx) / s, (stage.clientHeight - view.ty) / s];
}
function curve(c, pts) {
  c.moveTo(pts[0][0], pts[0][1]);
  for (let i = 0; i + 1 < pts.length; i++) {
    const [x0, y0] = pts[i], [x1, y1] = pts[i + 1], d = Math.max(12, Math.abs(y1 - y0) / 2);
    c.bezierCurveTo(x0, y0 + d, x1, y1 - d, x1, y1);
  }
}
function isSelected(b) {
  if (!selected) return false;
  if (selected.type === 'item') return b.t === ITEM && selected.item === b.i;
  return selected.type === 'group' && b.t === CLOSED && selected.group === b.i;
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
  const hits = new Set(matches.filter((m) => m.g === g.index).map((m) => g.itemBox[m.item]));
  for (const id of partners) { const i = itemIndex(g, id); if (i !== undefined) hits.add(g.itemBox[i]); }
  ctx.lineWidth = 1 / Math.max(s, 0.5);
  for (const b of g.boxes) {
    if (b.t !== FRAME || !inView(b.x, b.y, b.w, b.h)) continue;
    const worst = g.status && g.status.groups[b.i];
    ctx.fillStyle = worst ? withAlpha(colours[worst], 0.12) : colours['frame-fill'];
    ctx.strokeStyle = colours.frame; ctx.setLineDash([4, 3]);
    roundRect(b.x, b.y, b.w, b.h, 8); ctx.fill(); ctx.stroke(); ctx.setLineDash([]);
    if (text) {
      const lines = g.groups[b.i].lines;
      ctx.fillStyle = colours.muted; ctx.font = '600 11px system-ui, sans-serif';
      ctx.fillText('▾ ' + lines[0].slice(2) + '  (' + lines[1] + ')', b.x + 8, b.y + 14);
    }
  }
  ctx.strokeStyle = colours.edge; ctx.fillStyle = colours.edge;
  const selEdge = selected && selected.type === 'edge' ? selected.edge : null;
  for (const e of g.edges) {
    if (!(e.bb[0] < vx1 && e.bb[2] > vx0 && e.bb[1] < vy1 && e.bb[3] > vy0)) continue;
    ctx.beginPath(); curve(ctx, e.pts);
    if (e === selEdge) {
      ctx.save(); ctx.strokeStyle = colours.select; ctx.lineWidth = 3 / s; ctx.stroke(); ctx.restore();
    } else ctx.stroke();
    const [x, y] = e.pts[e.pts.length - 1];
    if (s > 0.25) {
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x - 3.5, y - 7); ctx.lineTo(x + 3.5, y - 7);
      ctx.closePath(); ctx.fill();
    }
  }
  g.boxes.forEach((b, k) => {
    if (b.t === FRAME || !inView(b.x, b.y, b.w, b.h)) return;
    ctx.globalAlpha = b.t === ITEM ? colours.alpha : 1;
    ctx.fillStyle = fillFor(g, b);
    roundRect(b.x, b.y, b.w, b.h, b.t === CLOSED ? 7 : 5); ctx.fill();
    ctx.globalAlpha = 1;
    const isSel = isSelected(b), hot = isSel || hits.has(k);
    ctx.lineWidth = (hot ? 3 : 1) / Math.max(s, 0.5);
    const plain = b.t === CLOSED ? colours.frame : colours.line;
    ctx.strokeStyle = isSel ? colours.select : hot ? colours.match : plain;
    if (b.t === CLOSED) ctx.setLineDash([5, 3]);
    ctx.stroke(); ctx.setLineDash([]);
    if (!text) return;
    const status = g.status && (b.t === ITEM ? g.status.items[b.i] : g.status.groups[b.i]);
    ctx.fillStyle = status === 'first' ? colours['first-text'] : colours['node-text'];
    const lines = b.t === CLOSED ? g.groups[b.i].lines : g.items[b.i].lines;
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
    if (b.t === FRAME) continue;
    c.globalAlpha = b.t === CLOSED ? 0.6 : 0.8;
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
