// search.js: the search box — nodes by op, id or name, and tensors (a weight finds its users);
// Enter steps through the matches, revealing each.

let searched = '';
function runSearch(q) {
  searched = q;
  matches = []; matchAt = -1;
  q = q.trim().toLowerCase();
  if (q) {
    const seen = new Set();
    const add = (g, item) => {
      const key = g * 1e7 + item;
      if (!seen.has(key)) { seen.add(key); matches.push({ g, item }); }
    };
    for (const g of graphs) {
      g.items.forEach((it, i) => {
        if (it.kind !== 'node' && it.kind !== 'layer') return;
        const name = g.data.names[i].toLowerCase();
        if (it.lines[0].toLowerCase().includes(q) || it.id === q || name.includes(q)) add(g.index, i);
      });
    }
    const byId = new Map();
    for (const g of graphs) g.items.forEach((it, i) => byId.set(it.id, [g.index, i]));
    for (const [key, row] of Object.entries(block('values'))) {
      const name = key.slice(key.indexOf(':') + 1), v = asValue(row);
      const who = byId.has(v.producer) ? v.producer : v.users[0];   // a weight: its first user
      if (name.toLowerCase().includes(q) && byId.has(who)) { const [g, i] = byId.get(who); add(g, i); }
    }
    const away = (m) => (m.g === G.index ? 0 : 1);    // the drawing shown first, then the others
    matches.sort((a, b) => away(a) - away(b) || a.g - b.g || a.item - b.item);
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
$('search').addEventListener('input', (ev) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => runSearch(ev.target.value), 120);
});
$('search').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') {
    ev.preventDefault(); clearTimeout(searchTimer);
    if (ev.target.value !== searched) runSearch(ev.target.value);
    step(ev.shiftKey ? -1 : 1);
  }
  if (ev.key === 'Escape') { ev.target.value = ''; runSearch(''); stage.focus(); }
});
$('next').onclick = () => step(1);
$('prev').onclick = () => step(-1);
