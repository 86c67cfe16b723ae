// panel.js: the side panel — the model, a node (attributes, inputs and outputs, weights with
// statistics and a histogram, provenance, operator documentation), a value or edge, a group.

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') e.onclick = v; else e.setAttribute(k, v);
  }
  for (const kid of kids) {
    if (kid !== null && kid !== undefined) e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
}
/** A table of rows; a row is a list of cells or {cells, cls}. */
function table(rows) {
  return el('table', {}, ...rows.map((r) => el('tr', r.cls ? { class: r.cls } : {},
    ...(r.cells || r).map((c) => el('td', {}, c)))));
}
/** Everything the panel shows of node `id` (n<k>), its parts named, or null. */
function nodeDetails(id) {
  const d = asNode(nodeRow(parseInt(id.slice(1), 10)));
  if (!d) return null;
  d.attributes = d.attributes.map(asAttribute);
  d.inputs = d.inputs.map(asInput);
  d.outputs = d.outputs.map(asOutput);
  d.subgraphs = d.subgraphs.map(asSubgraph);
  d.provenance = asProvenance(d.provenance);
  if (d.provenance) d.provenance.steps = d.provenance.steps.map(asStep);
  return d;
}
/** Everything the panel shows of source layer `id` (s<k>), its parts named. */
function layerDetails(id) {
  const d = asLayer(block('layers')[parseInt(id.slice(1), 10)]);
  d.config = d.config.map(asSetting);
  for (const part of ['inputs', 'outputs', 'weights']) d[part] = d[part].map(asSourceTensor);
  return d;
}
function findItem(id) {
  for (const g of graphs) { const i = g.items.findIndex((it) => it.id === id); if (i >= 0) return [g, i]; }
  return null;
}
function link(id, label) {
  const d = !label && id[0] === 'n' ? nodeDetails(id) : null;
  const text = label || (d && d.name && d.name !== id ? `${d.name} (${id})` : id);
  const go = () => {
    const f = findItem(id);
    if (f) { reveal(f[0], f[1]); select({ type: 'item', item: f[1] }); }
  };
  return el('a', { 'data-id': id, onclick: go }, text);
}
function select(sel) {
  selected = sel;
  partners = new Set();
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
  if (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(4);
  return v.toPrecision(6).replace(/\.?0+$/, '');
}
const typed = (v) => `${v.dtype || '?'} ${v.shape}`;

function showModel() {
  const m = VIEW.model, S = VIEW.summary;
  panel.append(el('h2', {}, m.name),
    el('div', { class: 'sub' }, `${m.format || 'graph'} · ${m.nodes.toLocaleString('en')} nodes`));
  const rows = [
    ['Format', [S.format.source_format, S.format.format_version].filter(Boolean).join(' ')],
    ['Producer', S.format.producer || '—'],
    ['Opset', Object.entries(S.opset).map(([d, v]) => `${d} ${v}`).join(', ')],
    ['Stored weights', `${fmt(S.parameters.count)} values in ${fmt(S.parameters.tensors)} tensors`],
  ];
  if (S.labels) rows.push(['Labels', fmt(S.labels)]);
  if (VIEW.source !== null) rows.push(['Source layers', fmt(m.layers)]);
  panel.append(table(rows));
  panel.append(el('h3', {}, 'Inputs and outputs'),
    table([...S.inputs.map((v) => ['in ' + v.name, typed(v)]),
      ...S.outputs.map((v) => ['out ' + v.name, typed(v)])]));
  if (S.transforms.length) {
    panel.append(el('h3', {}, 'Transformations on import'),
      table(S.transforms.map((t) => [t.kind, `${t.text} (${t.count})`])));
  }
  const props = Object.entries(S.properties);
  if (props.length || S.notes.length) {
    panel.append(el('h3', {}, 'Metadata'), table([...props, ...S.notes.map((n) => ['note', n])]));
  }
  if (S.doc) panel.append(el('h3', {}, 'Doc'), el('pre', {}, S.doc));
  panel.append(el('p', { class: 'note' },
    'Click a node, group or edge. Keys: / search, arrows pan, + − zoom, 0 fit, '
    + 'Backspace leaves a subgraph.'));
}
function showItem(i) {
  const it = G.items[i];
  if (it.kind === 'layer') { showLayer(it.id); return; }
  if (it.kind !== 'node') {             // a graph input or output: its value's name, then its type
    const [name, type] = it.lines;
    panel.append(el('h2', {}, name),
      el('div', { class: 'sub' }, `graph ${it.kind} ${it.id} · ${type}`));
    const v = valueOf(`${G.index}:${name}`);
    if (v) panel.append(valueTable(name, v));
    return;
  }
  const d = nodeDetails(it.id);
  panel.append(el('h2', {}, d.op),
    el('div', { class: 'sub' }, `${d.name} · ${d.id}${d.scope ? ' · in ' + d.scope : ''}`));
  if (d.layers.length) {
    panel.append(el('h3', {}, 'Source layer'), el('div', {}, ...d.layers.flatMap((id, n) => {
      const layer = layerDetails(id);
      return [n ? ', ' : '', partnerLink([id], `${layer.name} (${layer.type})`)];
    })));
  }
  const mark = OVERLAY && OVERLAY.nodes[d.id];
  if (mark) panel.append(el('h3', {}, 'Parity'), figures(mark));
  if (d.subgraphs.length) {
    const open = (s) => {
      const count = graphs[s.graph].items.filter((x) => x.kind === 'node').length;
      return el('button', { onclick: () => showGraph(s.graph) }, `open ${s.attribute} (${count} nodes)`);
    };
    panel.append(el('h3', {}, 'Subgraphs'), el('div', {}, ...d.subgraphs.map(open)));
  }
  if (d.attributes.length) {
    panel.append(el('h3', {}, 'Attributes'));
    panel.append(table(d.attributes.map((a) => ({
      cells: [a.name, a.text + (a.default ? ' (default)' : '')], cls: a.default ? 'default' : '',
    }))));
    for (const a of d.attributes) if (a.weight) panel.append(weight(a.name, weightStats(a.weight)));
  }
  const where = { weight: ' · weight', outer: ' · from enclosing graph' };
  panel.append(el('h3', {}, 'Inputs'));
  panel.append(table(d.inputs.map((inp) => [inp.role, inp.kind === 'omitted' ? '(omitted)'
    : el('span', {}, tensorLink(inp.name), ` ${typed(inp)}${where[inp.kind] || ''}`)])));
  for (const inp of d.inputs) {
    if (inp.kind === 'weight') panel.append(weight(`${inp.role}: ${inp.name}`, weightStats(inp.weight)));
  }
  panel.append(el('h3', {}, 'Outputs'));
  panel.append(table(d.outputs.map((out) => {
    const v = valueOf(`${G.index}:${out.name}`);
    const users = v ? v.users : [];
    const shown = users.slice(0, 12).flatMap((u, n) => [n ? ', ' : '', link(u)]);
    const more = users.length > 12 ? ` … (${users.length})` : '';
    return [tensorLink(out.name), el('span', {}, typed(out), users.length ? ' → ' : '', ...shown, more)];
  })));
  if (d.provenance) {
    const p = d.provenance;
    panel.append(el('h3', {}, 'Provenance'), table([['Framework', p.framework],
      ['Layer', `${p.layer} (${p.layer_type})`], ...(d.layout ? [['Layout', d.layout]] : [])]));
    if (p.steps.length) {
      const steps = p.steps.map((s) => el('li', {}, el('code', {}, s.kind), ' ', s.text));
      panel.append(el('ol', { class: 'steps' }, ...steps));
    } else panel.append(el('div', { class: 'note' }, 'no transformation applied on import'));
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
function showLayer(id) {
  const d = layerDetails(id);
  panel.append(el('h2', {}, d.type), el('div', { class: 'sub' }, `${d.name} · ${id} · source layer`));
  if (!d.supported) {
    panel.append(el('div', { class: 'note' },
      'shown without a translation: convert refuses it' + (d.note ? ` (${d.note})` : '')));
  }
  const mark = OVERLAY && d.nodes.map((n) => OVERLAY.nodes[n]).find(Boolean);
  if (mark) panel.append(el('h3', {}, 'Parity'), figures(mark));
  if (d.config.length) {
    panel.append(el('h3', {}, 'Configuration'), table(d.config.map((c) => [c.key, c.text])));
  }
  const quantized = (t) => (t.quantization
    ? ' · ' + Object.entries(t.quantization).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ') : '');
  const about = (t) => `${typed(t)}${t.layout ? ' ' + t.layout : ''}${quantized(t)}`;
  const tensors = (list) => table(list.map((t) => [t.name, about(t)]));
  if (d.inputs.length) panel.append(el('h3', {}, 'Inputs'), tensors(d.inputs));
  if (d.outputs.length) panel.append(el('h3', {}, 'Outputs'), tensors(d.outputs));
  if (d.weights.length) {
    panel.append(el('h3', {}, 'Stored weights'), tensors(d.weights));
    for (const w of d.weights) {
      // the figures are the ONNX constant's (the same values, in the order the layout pass gave them)
      const stored = `${w.name} (stored ${w.shape}${w.layout ? ' ' + w.layout : ''}) → ONNX ${w.value}`;
      if (w.weight) panel.append(weight(stored, weightStats(w.weight)));
    }
  }
  panel.append(el('h3', {}, 'ONNX nodes'));
  if (!d.nodes.length) {
    panel.append(el('div', { class: 'note' }, 'none: the layer is an identity at inference'));
  }
  else {
    const named = d.nodes.map((n) => { const node = nodeDetails(n); return `${node.op} ${node.name}`; });
    panel.append(el('div', {}, partnerLink(d.nodes, `show ${d.nodes.length} in the ONNX graph`)),
      table(d.nodes.map((n, k) => [n, partnerLink([n], named[k])])));
  }
}
function tensorLink(name) {
  const go = () => {
    const e = G.edges.find((x) => x.values.includes(name));
    if (e) select({ type: 'edge', edge: e }); else select({ type: 'value', name });
  };
  return el('a', { class: 'tensor', onclick: go }, name);
}
function valueTable(name, v) {
  const users = v.users.slice(0, 40).flatMap((u, n) => [n ? ', ' : '', link(u)]);
  return table([['Tensor', name], ['Type', typed(v)],
    ['Producer', typeof v.producer === 'string' ? link(v.producer) : 'none: a constant (weight)'],
    ['Consumers', v.users.length ? el('span', {}, ...users) : '—']]);
}
function showEdge(e) {
  if (!e.pts) {
    const v = valueOf(`${G.index}:${e.name}`);
    panel.append(el('h2', {}, e.name), el('div', { class: 'sub' }, 'tensor'));
    if (v) panel.append(valueTable(e.name, v));
    return;
  }
  const title = e.values.length > 1 ? `${e.values.length} tensors` : e.values[0];
  panel.append(el('h2', {}, title), el('div', { class: 'sub' }, 'edge'));
  for (const name of e.values.slice(0, 20)) {
    const v = valueOf(`${G.index}:${name}`);
    panel.append(el('h3', {}, name));
    if (v) panel.append(valueTable(name, v));
  }
}
const STATUS_TEXT = { first: 'first diverging layer', fail: 'outside tolerance', pass: 'within tolerance' };
function figures(mark) {
  const rows = Object.entries(mark).filter(([k]) => k !== 'status')
    .map(([k, v]) => [k.replace(/_/g, ' '), fmt(v)]);
  const badge = el('span', { class: 'badge', style: `background:${colours[mark.status]}` },
    STATUS_TEXT[mark.status]);
  return el('div', {}, badge, table(rows));
}
function weightStats(key) { return asWeight(block('weights')[key]) || null; }
function weight(title, w) {
  if (!w) return el('div', { class: 'note' }, `${title}: not read`);
  const dims = w.shape.length ? w.shape.join('×') : 'scalar';
  const box = el('div', { class: 'weight' }, el('strong', {}, title),
    el('div', { class: 'sub' }, `${w.dtype} ${dims} · ${fmt(w.size)} values · ${fmt(w.bytes)} bytes`));
  if (w.problem) { box.append(el('div', { class: 'note' }, w.problem)); return box; }
  if (w.min !== null && w.min !== undefined) {
    box.append(table([['min / max', `${fmt(w.min)} / ${fmt(w.max)}`],
      ['mean / std', `${fmt(w.mean)} / ${fmt(w.std)}`],
      ['zeros', fmt(w.zeros)], ['NaN / Inf', `${fmt(w.nan)} / ${fmt(w.inf)}`]]));
  }
  box.append(el('div', { class: 'note' }, w.all_values ? 'all values:' : `first ${w.values.length} values:`),
    el('pre', {}, w.values.map(fmt).join(', ')));
  if (w.histogram) box.append(histogram({ counts: w.histogram, low: w.min, high: w.max }));
  if (w.sampled) {
    const sample = `figures from a sample of ${fmt(w.counted)} values (read budget); `;
    box.append(el('div', { class: 'note' }, sample + 'netinspect info --tensor gives exact ones'));
  }
  return box;
}
function histogram(hgram) {
  const NS = 'http://www.w3.org/2000/svg', svg = document.createElementNS(NS, 'svg');
  const n = hgram.counts.length, top = Math.max(...hgram.counts, 1);
  svg.setAttribute('class', 'hist'); svg.setAttribute('viewBox', `0 0 ${n * 10} 40`);
  svg.setAttribute('preserveAspectRatio', 'none');
  hgram.counts.forEach((c, i) => {
    const r = document.createElementNS(NS, 'rect'), hgt = c ? Math.max(1, (c / top) * 40) : 0;
    r.setAttribute('x', i * 10 + 1); r.setAttribute('width', 8); r.setAttribute('y', 40 - hgt);
    r.setAttribute('height', hgt);
    const t = document.createElementNS(NS, 'title'); t.textContent = `${c}`; r.append(t); svg.append(r);
  });
  const range = `histogram ${fmt(hgram.low)} … ${fmt(hgram.high)}`;
  return el('div', {}, svg, el('div', { class: 'note' }, range));
}
function operatorDoc(op) {
  const box = el('details', {},
    el('summary', {}, `${op.domain} ${op.name} — operator documentation (since opset ${op.since})`));
  box.append(el('pre', {}, op.doc || '(no description)'));
  if (op.attributes.length) {
    const about = (a) => `${a.type}${a.required ? ', required' : ''}`
      + `${a.default !== null ? `, default ${a.default}` : ''}. ${a.description}`;
    box.append(el('h3', {}, 'Attributes'), table(op.attributes.map((a) => [a.name, about(a)])));
  }
  const formal = (p) => [p.name, `${p.type}${p.option ? ` (${p.option})` : ''}: ${p.description}`];
  box.append(el('h3', {}, 'Inputs'), table(op.inputs.map(formal)));
  box.append(el('h3', {}, 'Outputs'), table(op.outputs.map(formal)));
  if (op.constraints.length) {
    box.append(el('h3', {}, 'Type constraints'),
      table(op.constraints.map((c) => [c.parameter, `${c.types.join(', ')}. ${c.description}`])));
  }
  return box;
}
function showGroup(j) {
  const grp = G.groups[j];
  const ops = {};
  G.items.forEach((it, i) => {
    if (it.kind !== 'input' && it.kind !== 'output' && ancestors(G, i).includes(j)) {
      ops[it.lines[0]] = (ops[it.lines[0]] || 0) + 1;
    }
  });
  panel.append(el('h2', {}, grp.name || 'model'),
    el('div', { class: 'sub' }, `group · ${grp.lines[1]} · ${G.open.has(j) ? 'open' : 'closed'}`));
  const toggle = () => { toggleGroup(j); select({ type: 'group', group: j }); };
  panel.append(el('button', { onclick: toggle }, G.open.has(j) ? 'Collapse' : 'Expand'));
  panel.append(el('h3', {}, 'Operators'), table(Object.entries(ops).sort((a, b) => b[1] - a[1])));
  if (G.status && G.status.groups[j]) {
    panel.append(el('div', { class: 'note' }, `worst parity inside: ${G.status.groups[j]}`));
  }
}
