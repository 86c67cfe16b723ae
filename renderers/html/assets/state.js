// state.js: what every part of the page shares — the page's elements, the data Python embedded
// (read by field name), the graphs being shown, the current view, selection and search matches.
const $ = (id) => document.getElementById(id);
const VIEW = JSON.parse($('nv-view').textContent);
const OVERLAY = JSON.parse($('nv-overlay').textContent);

// Python sends each kind of record as a JSON array with one header of field names per kind
// (VIEW.fields, from data.py's named tuples): `named(kind)` turns such an array into an object
// with those names, so the rest of the page reads every field by its name.
function named(kind) {
  const names = VIEW.fields[kind];
  return (row) => {
    if (row === null || row === undefined) return row;
    const record = {};
    for (let i = 0; i < names.length; i++) record[names[i]] = row[i];
    return record;
  };
}
const asItem = named('item'), asGroup = named('group'), asEdge = named('edge');
const asVirtual = named('virtual_point'), asLevelEdge = named('level_edge');
const asNode = named('node'), asInput = named('input'), asOutput = named('output');
const asAttribute = named('attribute'), asProvenance = named('provenance'), asStep = named('step');
const asSubgraph = named('subgraph'), asValue = named('value'), asWeight = named('weight');
const asLayer = named('layer'), asSetting = named('setting'), asSourceTensor = named('source_tensor');

// Details are parsed only when first needed, each block on its own (nodes in chunks), so a
// click on a 50,000-node graph parses one chunk, not the whole model.
const parsed = new Map();
function block(id) {
  if (!parsed.has(id)) parsed.set(id, JSON.parse($('nv-' + id).textContent));
  return parsed.get(id);
}
function nodeRow(k) { return block('nodes-' + Math.floor(k / VIEW.chunk))[k % VIEW.chunk]; }
/** The value record `graphIndex:name` (type, producer, users), or undefined. */
function valueOf(key) { return asValue(block('values')[key]); }

const RANK_GAP = 26, GAP = 14, PAD = 12, HEADER = 20, VIRTUAL_W = 6;
// What a drawn box stands for: an item (node, input, output), a closed group, an open group's frame.
const ITEM = 0, CLOSED = 1, FRAME = 2;
const canvas = $('canvas'), ctx = canvas.getContext('2d');
const stage = $('stage'), panel = $('panel'), minimap = $('minimap'), mctx = minimap.getContext('2d');
const view = { scale: 1, tx: 0, ty: 0 };
let G = null;                 // the graph shown
let selected = null;          // {type: 'item'|'group'|'edge'|'value', ...}
let matches = [], matchAt = -1;
let partners = new Set();     // ids of the selection's counterparts, marked after a switch of drawing
const colours = {};

function readGroup(row) {
  const group = asGroup(row);
  group.virtual = group.virtual.map(asVirtual);
  group.edges = group.edges.map(asLevelEdge);
  return group;
}
const graphs = VIEW.graphs.map((data, index) => ({
  index, data, items: data.items.map(asItem), groups: data.groups.map(readGroup), parent: data.parent,
  links: data.edges.map(asEdge), open: new Set(data.open), boxes: [], itemBox: null, groupBox: null,
  edges: [], vabs: [], bounds: { x: 0, y: 0, w: 1, h: 1 }, status: null,
}));

/** The index of item `id` in graph g, or undefined. */
function itemIndex(g, id) {
  if (!g.byId) g.byId = new Map(g.items.map((it, i) => [it.id, i]));
  return g.byId.get(id);
}
function ancestors(g, item) {
  const out = [];
  for (let j = g.parent[item]; j !== null && j !== undefined; j = g.groups[j].parent) out.push(j);
  return out;
}
