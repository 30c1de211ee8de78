'use strict';
// The neuron viewer's pages. Every string from the store reaches the page as a text node or an attribute
// value set through the DOM, never as markup, so tokens such as "<script>" or "&amp;" show as written.
(() => {
  const main = document.getElementById('main');
  const tooltip = document.getElementById('tooltip');
  const SVG = 'http://www.w3.org/2000/svg';

  // h(tag, [attributes], ...children): attributes are a plain object; anything else is a child.
  function h(tag, ...rest) { return build(document.createElement(tag), rest); }
  function s(tag, ...rest) { return build(document.createElementNS(SVG, tag), rest); }

  function build(e, [first, ...children]) {
    if (first && typeof first === 'object' && !(first instanceof Node) && !Array.isArray(first)) setAttrs(e, first);
    else children.unshift(first);
    e.append(...flat(children));
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'class') e.setAttribute('class', v);
      // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
      else if (k === 'style') e.style.cssText = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  // Strings become text nodes through append(); nulls are dropped.
  const flat = (children) => children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);

  const count = (n) => Number(n).toLocaleString('en-US');
  const fmt = (x, digits = 3) => (x === null || x === undefined ? '—' : Number(x).toFixed(digits));
  // A unit (r.kind, r.unit as the API gives them): MLP neurons keep /neuron/L/N, other kinds are at /unit/ + their printed form.
  const unitHref = (r) => (r.kind === 'neuron' ? `/neuron/${Number(r.layer)}/${Number(r.neuron)}` : `/unit/${r.unit.split('/').map(encodeURIComponent).join('/')}`);
  const layerHref = (layer) => `/layer/${Number(layer)}`;
  const neuronLink = (r) => h('a', { href: unitHref(r) }, r.unit);
  const kindName = { neuron: 'Neuron', head: 'Head', sae: 'SAE latent' };

  // Control characters show as escapes (newline as \n, bell as \x07) in their own style, so they are visible
  // in any font and not mistaken for the same characters typed literally.
  const ESCAPES = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  function visible(token) {
    return token.split(/([\u0000-\u001f\u007f])/).filter((part) => part !== '').map((part) => /^[\u0000-\u001f\u007f]$/.test(part)
      ? h('span', { class: 'ctl' }, ESCAPES[part] || `\\x${part.charCodeAt(0).toString(16).padStart(2, '0')}`)
      : part);
  }

  const GREEN = '46, 160, 67', RED = '214, 69, 65', BLUE = '52, 120, 246';

  // Positive values in the given colour, negative in red, opacity by size relative to max.
  function shade(value, max, rgb) {
    if (!(max > 0) || !value) return 'transparent';
    const alpha = Math.min(1, Math.abs(value) / max) * 0.85;
    return `rgba(${value > 0 ? rgb : RED}, ${alpha.toFixed(3)})`;
  }

  function tokenCell(token, tip) {
    const cell = h('span', { class: token.length === 0 ? 'tok empty' : 'tok', tabindex: 0 }, visible(token));
    cell.dataset.tip = tip;
    return cell;
  }

  // One excerpt, one cell per token, coloured by activation relative to the neuron's maximum.
  function heatmap(excerpt, max) {
    return h('div', { class: 'excerpt' }, excerpt.tokens.map((t, i) => {
      const cell = tokenCell(t, `${JSON.stringify(t)}\nactivation ${excerpt.activations[i]}`);
      cell.style.backgroundColor = shade(excerpt.activations[i], max, GREEN);
      return cell;
    }));
  }

  // An attention head's excerpt: the token row (hover a token for what it attends to) and a query x key map below it.
  function headExcerpt(x, max, map) {
    const row = h('div', { class: 'excerpt' }, x.tokens.map((t, i) => {
      const reads = x.attended[i].map((a) => `${JSON.stringify(x.tokens[a.position])} at ${a.position} (${fmt(a.weight, 3)})`).join(', ');
      const cell = tokenCell(t, `${JSON.stringify(t)} at ${i}\nactivation ${x.activations[i]}\nattends to ${reads || 'nothing listed'}`);
      cell.style.backgroundColor = shade(x.activations[i], max, GREEN);
      return cell;
    }));
    return map ? h('div', { class: 'head-excerpt' }, row, attentionMap(x, max)) : row;
  }

  // Rows are query tokens (the strip on the left shades the head's activation there), columns the tokens attended to;
  // each query's strongest attended tokens are filled, darker for a larger weight. Hover or focus a cell for the pair.
  function attentionMap(x, max) {
    const n = x.tokens.length, c = 8, left = 10, size = n * c;
    const svg = s('svg', { class: 'attention', width: left + size + 1, height: size + 1, viewBox: `0 0 ${left + size + 1} ${size + 1}`,
      role: 'img', 'aria-label': 'attention from each query token (row) to the tokens it attends to most (columns)' },
      s('rect', { class: 'attention-grid', x: left, y: 0, width: size, height: size }));
    x.attended.forEach((sources, q) => {
      const strip = s('rect', { x: 0, y: q * c, width: left - 2, height: c, fill: shade(x.activations[q], max, GREEN) });
      strip.dataset.tip = `${JSON.stringify(x.tokens[q])} at ${q}\nactivation ${x.activations[q]}`;
      svg.append(strip);
      for (const a of sources) {
        const cell = s('rect', { class: 'attn', tabindex: 0, x: left + a.position * c, y: q * c, width: c, height: c,
          fill: `rgba(${BLUE}, ${(0.15 + 0.85 * a.weight).toFixed(3)})` });
        cell.dataset.tip = `${JSON.stringify(x.tokens[q])} at ${q} <- ${JSON.stringify(x.tokens[a.position])} at ${a.position}\nweight ${a.weight}`;
        svg.append(cell);
      }
    });
    return svg;
  }

  // A scored excerpt: background = real activation, underline bar = simulated activation.
  function scoredHeatmap(x, max, simMax) {
    return h('div', { class: 'excerpt scored' }, x.tokens.map((t, i) => {
      const cell = tokenCell(t, `${JSON.stringify(t)}\nreal      ${x.true_activations[i]}\nsimulated ${x.simulated_activations[i]}`);
      cell.style.backgroundColor = shade(x.true_activations[i], max, GREEN);
      cell.style.boxShadow = `inset 0 -5px 0 ${shade(x.simulated_activations[i], simMax, BLUE)}`;
      return cell;
    }));
  }

  function showTip(target) {
    tooltip.textContent = target.dataset.tip;
    tooltip.hidden = false;
    const r = target.getBoundingClientRect();
    tooltip.style.left = `${window.scrollX + r.left}px`;
    tooltip.style.top = `${window.scrollY + r.bottom + 4}px`;
  }
  const hideTip = () => { tooltip.hidden = true; };
  for (const [on, off] of [['mouseover', 'mouseout'], ['focusin', 'focusout']]) {
    document.addEventListener(on, (e) => { const t = e.target.closest && e.target.closest('[data-tip]'); if (t) showTip(t); });
    document.addEventListener(off, (e) => { if (e.target.closest && e.target.closest('[data-tip]')) hideTip(); });
  }

  async function api(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' } });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new Error(body && body.error ? body.error : `${path} answered ${response.status}`);
    return body;
  }

  function show(title, ...content) {
    document.title = `${title} · Neuron viewer`;
    main.replaceChildren(...flat(content));
  }

  // ---- Home ------------------------------------------------------------------------------------------
  async function home() {
    const asked = new URLSearchParams(location.search);
    const chosen = new URLSearchParams();
    for (const k of ['explainer', 'simulator']) if (asked.has(k)) chosen.set(k, asked.get(k));
    const d = await api(`/api/summary${chosen.size ? `?${chosen}` : ''}`);
    const m = d.manifest;
    const a = d.scores, pct = (x) => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
    show('Overview',
      h('h1', 'Overview'),
      h('dl', { class: 'facts' },
        h('dt', 'Model'), h('dd', m ? m.model : '—'),
        h('dt', 'Corpus'), h('dd', m ? m.corpus : '—'),
        h('dt', 'Store'), h('dd', d.store),
        m && [h('dt', 'Created'), h('dd', m.created_at), h('dt', 'Tool version'), h('dd', m.tool_version)],
        m && [h('dt', 'Settings'), h('dd', h('details', h('summary', `${Object.keys(m.settings).length} settings`),
          h('dl', { class: 'facts' }, Object.entries(m.settings).map(([k, v]) => [h('dt', k), h('dd', v)]))))],
        h('dt', 'Neurons'), h('dd', `${count(d.neurons)} in ${count(d.layers)} layers; ${count(d.scored)} scored, ${count(d.failed)} failed`),
        h('dt', 'Scores of'), h('dd', d.pair ? pairPicker(d) : '—'),
        h('dt', 'Mean score'), h('dd', { id: 'mean-score' },
          `${fmt(a.mean)} over ${count(a.defined)} defined; ${fmt(a.mean_undefined_as_zero)} with ${count(a.undefined)} undefined counted as 0`),
        h('dt', 'Share \u2265 0.8'), h('dd', `${pct(a.share_at_least_good)} of defined; ${pct(a.share_at_least_good_undefined_as_zero)} with undefined counted as 0`)),
      h('form', { action: '/search', method: 'get', class: 'search', style: 'margin: 1rem 0; margin-left: 0' },
        h('input', { name: 'q', type: 'search', placeholder: 'Search explanations, e.g. "numbers"', 'aria-label': 'Search explanations' }),
        h('button', { type: 'submit' }, 'Search')),
      h('h2', 'Score distribution per layer'),
      d.layer_scores.length ? scoreChart(d) : h('p', { class: 'muted' }, 'No layers in this store yet.'),
      h('div', { class: 'grid2' },
        h('div', h('h2', 'Best explained'), scoreTable(d.best)),
        h('div', h('h2', 'Worst explained'), scoreTable(d.worst))));
  }

  // Every aggregate on the page is for one explainer/simulator pair; with several in the store, pick which.
  function pairPicker(d) {
    const label = (p) => `explainer ${p.explainer}, simulator ${p.simulator} (${count(p.results)} neurons)`;
    if (d.pairs.length < 2) return label(d.pair);
    const at = d.pairs.findIndex((p) => p.explainer === d.pair.explainer && p.simulator === d.pair.simulator);
    return h('select', {
      'aria-label': 'Explainer and simulator',
      onchange: (e) => {
        const p = d.pairs[Number(e.target.value)];
        location.assign(`/?${new URLSearchParams({ explainer: p.explainer, simulator: p.simulator })}`);
      },
    }, d.pairs.map((p, i) => h('option', { value: i, selected: i === at }, label(p))));
  }

  function scoreTable(rows) {
    if (!rows.length) return h('p', { class: 'muted' }, 'No scored explanations yet.');
    return h('table', h('thead', h('tr', h('th', 'Neuron'), h('th', { class: 'num' }, 'Score'), h('th', 'Explanation'))),
      h('tbody', rows.map((r) => h('tr', h('td', neuronLink(r)), h('td', { class: 'num' }, fmt(r.score)), h('td', r.explanation || '')))));
  }

  // Columns are layers, rows are score bins (1 at the top); shading is the share of the layer's scored
  // neurons in the bin, and the dots trace each layer's mean score.
  function scoreChart(d) {
    const bins = d.histogram_edges.length - 1;
    const cw = Math.max(14, Math.min(40, Math.floor(880 / d.layer_scores.length))), ch = 12;
    const left = 44, top = 10, width = left + cw * d.layer_scores.length + 10, height = top + ch * bins + 20;
    const y = (score) => top + (1 - (score + 1) / 2) * ch * bins;
    const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Score distribution per layer' });
    const means = [];
    d.layer_scores.forEach((l, col) => {
      const x = left + col * cw;
      const most = Math.max(1, ...l.histogram);
      const column = s('a', { href: layerHref(l.layer) });
      l.histogram.forEach((count, b) => {
        const lo = d.histogram_edges[b], hi = d.histogram_edges[b + 1];
        column.append(s('rect', { x, y: y(hi), width: cw - 1, height: ch - 1, fill: count ? `rgba(${GREEN}, ${(0.12 + 0.88 * count / most).toFixed(3)})` : '#f1f3f5' },
          s('title', `layer ${l.layer} (${l.kind}): ${count} units scoring ${lo.toFixed(1)} to ${hi.toFixed(1)}`)));
      });
      svg.append(column);
      if (l.mean_score !== null) means.push([x + (cw - 1) / 2, y(l.mean_score), l]);
      if (d.layer_scores.length <= 24 || col % Math.ceil(d.layer_scores.length / 24) === 0)
        svg.append(s('text', { x: x + (cw - 1) / 2, y: top + ch * bins + 14, 'text-anchor': 'middle', fill: '#66707a' }, String(l.layer)));
    });
    if (means.length > 1) svg.append(s('polyline', { points: means.map(([x, yy]) => `${x},${yy}`).join(' '), fill: 'none', stroke: '#1d2329', 'stroke-width': 1.2 }));
    for (const [x, yy, l] of means) svg.append(s('circle', { cx: x, cy: yy, r: 3, fill: '#1d2329' }, s('title', `layer ${l.layer} (${l.kind}): mean score ${fmt(l.mean_score)} over ${l.scored} of ${l.neurons} neurons; ${fmt(l.mean_score_undefined_as_zero)} with ${l.undefined} undefined counted as 0`)));
    for (const v of [-1, -0.5, 0, 0.5, 1]) {
      svg.append(s('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', fill: '#66707a' }, v.toFixed(1)));
      svg.append(s('line', { x1: left - 3, x2: left, y1: y(v), y2: y(v), stroke: '#66707a' }));
    }
    return h('div', { class: 'chart' }, svg,
      h('p', { class: 'legend' }, 'Each column is a layer (click it to open the layer); the darker a cell, the more of that layer\u2019s neurons score in that range (correlation, -1 to 1). Dots: mean of defined scores (the tooltip also gives it with undefined scores counted as 0).'));
  }

  // ---- Neuron ----------------------------------------------------------------------------------------
  async function neuron(apiPath) {
    const d = await api(apiPath);
    const max = d.max_activation || Math.max(0, ...d.top_excerpts.flatMap((x) => x.activations));
    const title = `${kindName[d.kind] || d.kind} ${d.unit}`;
    show(title,
      h('div', { class: 'nav' },
        h('h1', title),
        d.previous ? h('a', { id: 'prev', href: unitHref(d.previous) }, '\u2190 previous') : h('span', { class: 'muted' }, 'first'),
        d.next ? h('a', { id: 'next', href: unitHref(d.next) }, 'next \u2192') : h('span', { class: 'muted' }, 'last'),
        h('span', { class: 'muted' }, 'keys ', h('span', { class: 'kbd' }, 'k'), ' / ', h('span', { class: 'kbd' }, 'j')),
        h('a', { href: layerHref(d.layer) }, `all of layer ${d.layer}`),
        d.layer_neuron && h('a', { id: 'layer-neurons', href: unitHref(d.layer_neuron) }, `neurons of layer ${d.layer}`)),
      d.layer_units.length ? h('p', { id: 'layer-heads', class: 'nav' }, `Other heads of layer ${d.layer}:`, d.layer_units.map(neuronLink)) : null,
      h('dl', { class: 'facts' },
        h('dt', 'Max activation'), h('dd', fmt(d.max_activation, 4)),
        d.density != null && [h('dt', 'Density'), h('dd', { id: 'density' }, `${fmt(100 * d.density, 4)}% of tokens`)],
        d.moments && [h('dt', 'Mean / variance'), h('dd', `${fmt(d.moments.mean, 4)} / ${fmt(d.moments.variance, 4)}`),
          h('dt', 'Skewness / kurtosis'), h('dd', `${fmt(d.moments.skewness, 3)} / ${fmt(d.moments.kurtosis, 3)}`)]),
      h('h2', 'Explanations'),
      d.explanations.length ? d.explanations.map((e) => explanation(e, max)) : h('p', { class: 'muted' }, 'Not explained yet.'),
      h('h2', 'Top-activating excerpts'),
      legend(),
      d.kind === 'head' && h('p', { class: 'legend' }, 'Under each excerpt, its attention: rows are query tokens (left strip: the head\u2019s activation), columns the tokens they attend to most',
        h('span', { class: 'swatch', style: `background: rgba(${BLUE}, 0.85)` }), 'darker for a larger weight (BOS context left out); hover a cell for the pair and its weight.'),
      excerpts('top-excerpts', d.top_excerpts, max, true),
      h('h2', 'Random excerpts'),
      excerpts('random-excerpts', d.random_excerpts, max),
      h('h2', 'Related tokens'),
      relatedTokens(d),
      h('h2', 'Related neurons (by weights)'),
      h('div', { class: 'grid2' },
        h('div', h('h3', 'Upstream (feed its input)'), relatedNeurons(d.upstream)),
        h('div', h('h3', 'Downstream (read its output)'), relatedNeurons(d.downstream))));
  }

  const legend = () => h('p', { class: 'legend' }, 'Shading: activation relative to the neuron\u2019s maximum',
    h('span', { class: 'swatch', style: `background: rgba(${GREEN}, 0.85)` }), 'positive',
    h('span', { class: 'swatch', style: `background: rgba(${RED}, 0.85)` }), 'negative; hover a token for its exact value.');

  const excerpts = (id, list, max, maps = false) => list.length
    ? h('div', { id }, list.map((x) => (x.attended ? headExcerpt(x, max, maps) : heatmap(x, max))))
    : h('p', { id, class: 'muted' }, 'None stored.');

  function explanation(e, max) {
    const ci = e.score_interval ? ` (95% CI ${fmt(e.score_interval[0])} to ${fmt(e.score_interval[1])})` : '';
    const score = e.score !== null ? `score ${fmt(e.score)}${ci}` : (e.undefined_reason ? `score undefined: ${e.undefined_reason}` : 'not scored');
    const box = h('div', { class: e.chosen && !e.control ? 'explanation chosen' : 'explanation' },
      h('div', { class: 'text' }, e.explanation !== null ? e.explanation : h('span', { class: 'muted' }, `${e.status}${e.reason ? ': ' + e.reason : ''}`),
        e.chosen && !e.control && h('span', { class: 'badge' }, 'chosen'),
        e.control && h('span', { class: 'badge', title: 'another neuron\u2019s explanation, scored here to check that scores of unrelated explanations sit near 0' }, 'shuffled control')),
      h('div', { class: 'muted' }, `${score} · top-only ${fmt(e.top_only_score)} · random-only ${fmt(e.random_only_score)} · R\u00b2 ${fmt(e.rsquared)} · abs. dev. explained ${fmt(e.absolute_dev_explained)} · ${e.explainer} / ${e.simulator}`),
      e.scores.length ? h('div', { class: 'muted method-scores' }, 'By method: ', e.scores.map((m, i) => h('span', { title: m.undefined_reason || '' },
        `${i ? ' · ' : ''}${m.method} ${m.failed ? 'failed' : m.score !== null ? fmt(m.score) : 'undefined'}`))) : null);
    if (e.scored_excerpts.length) {
      const simMax = Math.max(0, ...e.scored_excerpts.flatMap((x) => x.simulated_activations));
      box.append(h('details', h('summary', `Simulated vs real activations on ${e.scored_excerpts.length} scored excerpts`),
        h('p', { class: 'legend' }, 'Background: real activation',
          h('span', { class: 'swatch', style: `background: rgba(${GREEN}, 0.85)` }), '; bar under each token: simulated',
          h('span', { class: 'swatch', style: `background: rgba(${BLUE}, 0.85)` }),
          e.scored_excerpts[0].activation_scale === 'simulated_normalized_activations' ? ' (simulator\u2019s 0\u201310 scale).' : ' (calibrated to activations).'),
        e.scored_excerpts.map((x) => h('div', scoredHeatmap(x, max, simMax), h('div', { class: 'legend' }, `excerpt correlation ${fmt(x.score)}`)))));
    }
    return box;
  }

  function chips(tv, rgb) {
    if (!tv || !tv.tokens.length) return h('p', { class: 'muted' }, 'None stored.');
    const most = Math.max(...tv.values.map(Math.abs));
    return h('div', { class: 'chips' }, tv.tokens.map((t, i) => {
      const chip = tokenCell(t, `${JSON.stringify(t)}\n${tv.values[i]}`);
      chip.className = 'chip';
      chip.style.backgroundColor = `rgba(${rgb}, ${(0.85 * Math.abs(tv.values[i]) / (most || 1)).toFixed(3)})`;
      return chip;
    }));
  }

  // The ablation scorer's measured output side (clean minus zero-ablated logits where the neuron fires), beside the weight-based view.
  function ablationTokens(d, key) {
    const chosen = d.explanations.find((e) => e.chosen && !e.control);
    const m = chosen && chosen.scores.find((s) => s.method === 'ablation' && s.details);
    if (!m) return null;
    const list = m.details[key];
    return { tokens: list.map((x) => x.token), values: list.map((x) => x.logit_change) };
  }

  function relatedTokens(d) {
    const w = d.weight_based_tokens;
    const promoted = ablationTokens(d, 'promoted'), suppressed = ablationTokens(d, 'suppressed');
    return h('div', { class: 'grid2' },
      h('div', h('h3', 'Highest mean activation'), chips(d.activation_based_tokens, GREEN)),
      h('div', h('h3', 'Input tokens that excite it'), chips(w && w.input_positive, GREEN)),
      h('div', h('h3', 'Input tokens that inhibit it'), chips(w && w.input_negative, RED)),
      h('div', h('h3', d.kind === 'sae' ? 'Output tokens its decoder direction promotes (W_dec \u00b7 W_U)' : 'Output tokens it promotes'), chips(w && w.output_positive, GREEN)),
      h('div', h('h3', d.kind === 'sae' ? 'Output tokens its decoder direction suppresses' : 'Output tokens it suppresses'), chips(w && w.output_negative, RED)),
      promoted && h('div', { id: 'ablation-promoted' }, h('h3', 'Logits it raises where it fires (measured by ablation)'), chips(promoted, GREEN)),
      suppressed && h('div', { id: 'ablation-suppressed' }, h('h3', 'Logits it lowers where it fires (measured by ablation)'), chips(suppressed, RED)));
  }

  function relatedNeurons(list) {
    if (!list.length) return h('p', { class: 'muted' }, 'None stored.');
    return h('table', h('tbody', list.map((r) => h('tr', h('td', neuronLink(r)), h('td', { class: 'num' }, fmt(r.weight, 4))))));
  }

  // ---- Layer -----------------------------------------------------------------------------------------
  async function layer(index) {
    const d = await api(`/api/layers/${index}`);
    let key = 'neuron', descending = false;
    const body = h('tbody');
    const value = (r) => (key === 'score' ? (r.score === null ? -Infinity : r.score) : r.neuron);
    const kindOrder = (a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0);
    function render() {
      const rows = [...d.neurons].sort((a, b) => (value(a) - value(b)) * (descending ? -1 : 1) || kindOrder(a, b) || a.neuron - b.neuron);
      body.replaceChildren(...rows.map((r) => h('tr',
        h('td', neuronLink(r)),
        h('td', { class: 'num' }, fmt(r.score)),
        h('td', r.explanation !== null ? r.explanation : h('span', { class: 'muted' }, r.status)),
        h('td', { class: 'muted' }, r.kind),
        h('td', { class: 'muted' }, r.explainer || ''))));
    }
    const sortBy = (k) => () => { descending = key === k ? !descending : k === 'score'; key = k; render(); };
    render();
    show(`Layer ${d.layer}`,
      h('div', { class: 'nav' },
        h('h1', `Layer ${d.layer}`),
        d.previous_layer !== null ? h('a', { href: layerHref(d.previous_layer) }, `\u2190 layer ${d.previous_layer}`) : null,
        d.next_layer !== null ? h('a', { href: layerHref(d.next_layer) }, `layer ${d.next_layer} \u2192`) : null,
        h('span', { class: 'muted' }, `${count(d.neurons.length)} neurons`)),
      h('table', { id: 'layer-table' },
        h('thead', h('tr',
          h('th', h('button', { id: 'sort-neuron', onclick: sortBy('neuron') }, 'Neuron \u21c5')),
          h('th', { class: 'num' }, h('button', { id: 'sort-score', onclick: sortBy('score') }, 'Score \u21c5')),
          h('th', 'Explanation'), h('th', 'Kind'), h('th', 'Explainer'))),
        body));
  }

  // ---- Search ----------------------------------------------------------------------------------------
  // kind (neuron, head, sae, sae:ID) keeps the hits to units of that kind, as /search?q=...&kind=head asks.
  async function search(query, kind) {
    for (const input of document.querySelectorAll('input[name=q]')) input.value = query;
    if (!query.trim()) { show('Search', h('h1', 'Search'), h('p', { class: 'muted' }, 'Type words of an explanation in the box above.')); return; }
    const d = await api(`/api/search?q=${encodeURIComponent(query)}${kind ? `&kind=${encodeURIComponent(kind)}` : ''}`);
    show(`Search: ${query}`,
      h('h1', 'Search: ', h('q', query), kind ? ` (${kind} only)` : ''),
      h('p', { class: 'muted' }, d.hits.length ? `${d.hits.length} explanations, best match first` : 'No explanation matches.'),
      h('ol', { class: 'hits' }, d.hits.map((hit) => h('li',
        neuronLink(hit), ' ',
        h('span', { class: 'hit' }, hit.highlighted.map((span) => (span.match ? h('mark', span.text) : span.text)))))));
  }

  // ---- Routing ---------------------------------------------------------------------------------------
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest('input, textarea, select')) return;
    const link = e.key === 'j' ? document.getElementById('next') : e.key === 'k' ? document.getElementById('prev') : null;
    if (link) location.assign(link.getAttribute('href'));
  });

  async function route() {
    const path = location.pathname;
    let m;
    if (path === '/') return home();
    if ((m = /^\/neuron\/(\d+)\/(\d+)$/.exec(path))) return neuron(`/api/neurons/${m[1]}/${m[2]}`);
    if ((m = /^\/unit\/(.+)$/.exec(path))) return neuron(`/api/units/${encodeURIComponent(decodeURIComponent(m[1]))}`);
    if ((m = /^\/layer\/(\d+)$/.exec(path))) return layer(m[1]);
    if (path === '/search') return search(new URLSearchParams(location.search).get('q') || '', new URLSearchParams(location.search).get('kind'));
    throw new Error(`no page at ${path}`);
  }

  route().catch((e) => show('Error', h('h1', 'Something is missing'), h('p', { class: 'error' }, e.message)));
})();
