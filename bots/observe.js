// Collect what a user can see and act on, in one round trip. Returns {url, title, items, truncated}.
// Each item: a control (something to click, type into, pick) or an informative text block.
(maxItems) => {
  const TEXTY = new Set(['text', 'email', 'password', 'search', 'tel', 'url', 'number', 'date',
    'datetime-local', 'month', 'week', 'time', '']);
  const BUTTONY = new Set(['button', 'submit', 'reset', 'image']);
  const ROLE_OF_TAG = { a: 'link', button: 'button', select: 'combobox', textarea: 'textbox',
    h1: 'heading', h2: 'heading', h3: 'heading', h4: 'heading', h5: 'heading', h6: 'heading',
    summary: 'button', option: 'option', li: 'listitem', td: 'cell', th: 'cell', img: 'img' };
  const CONTROL_ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'textbox', 'searchbox',
    'combobox', 'listbox', 'option', 'tab', 'menuitem', 'menuitemcheckbox', 'menuitemradio',
    'switch', 'treeitem', 'spinbutton', 'slider']);
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'svg']);
  const clean = (s, n = 120) => (s || '').replace(/\s+/g, ' ').trim().slice(0, n);

  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return false;
    const st = getComputedStyle(el);
    return st.visibility !== 'hidden' && st.display !== 'none' && Number(st.opacity) > 0;
  };
  const roleOf = (el) => {
    const explicit = (el.getAttribute('role') || '').split(' ')[0];
    if (explicit && explicit !== 'presentation' && explicit !== 'none') return explicit;
    const tag = el.tagName.toLowerCase();
    if (tag === 'a') return el.hasAttribute('href') ? 'link' : '';
    if (tag === 'input') {
      const t = (el.getAttribute('type') || 'text').toLowerCase();
      if (t === 'checkbox' || t === 'radio') return t;
      if (BUTTONY.has(t)) return 'button';
      if (t === 'search') return el.hasAttribute('list') ? 'combobox' : 'searchbox';
      if (t === 'number') return 'spinbutton';
      if (t === 'range') return 'slider';
      if (t === 'file') return 'button';
      return el.hasAttribute('list') ? 'combobox' : 'textbox';
    }
    if (tag === 'select') return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
    if (el.isContentEditable && el.getAttribute('contenteditable') !== null) return 'textbox';
    return ROLE_OF_TAG[tag] || '';
  };
  const byIdText = (ids) => ids.split(/\s+/).map((id) => document.getElementById(id))
    .filter(Boolean).map((e) => clean(e.textContent)).join(' ');
  const labelOf = (el) => {
    if (el.getAttribute('aria-labelledby')) return clean(byIdText(el.getAttribute('aria-labelledby')));
    if (el.labels && el.labels.length) return clean(el.labels[0].textContent);
    return '';
  };
  // Text of the nearest label-like thing before a control that has no label of its own.
  const nearOf = (el) => {
    let prev = el.previousElementSibling;
    for (let i = 0; prev && i < 2; i++, prev = prev.previousElementSibling) {
      const t = clean(prev.textContent, 60);
      if (t) return t;
    }
    const parent = el.parentElement;
    if (parent) {
      const own = Array.from(parent.childNodes).filter((n) => n.nodeType === 3)
        .map((n) => n.textContent).join(' ');
      if (clean(own)) return clean(own, 60);
    }
    return '';
  };
  const nameOf = (el, role) => {
    const aria = el.getAttribute('aria-label');
    if (aria) return clean(aria);
    const lab = labelOf(el);
    if (lab) return lab;
    const tag = el.tagName.toLowerCase();
    if (tag === 'input') {
      const t = (el.getAttribute('type') || 'text').toLowerCase();
      if (BUTTONY.has(t)) return clean(el.value || el.getAttribute('alt') || (t === 'submit' ? 'Submit' : ''));
      return clean(el.getAttribute('title') || el.getAttribute('placeholder') || '');
    }
    if (tag === 'select' || tag === 'textarea') return clean(el.getAttribute('title') || el.getAttribute('placeholder') || '');
    if (tag === 'img') return clean(el.getAttribute('alt') || el.getAttribute('title') || '');
    const text = clean(el.innerText || el.textContent);
    return text || clean(el.getAttribute('title') || '');
  };
  // jQuery and d3 keep click handlers out of the DOM; look for them (own or delegated) too.
  const jq = window.jQuery && window.jQuery._data ? window.jQuery : null;
  const hasHandler = (el) => {
    if (el.onclick || el.__onclick || el.onmousedown || el.__onmousedown) return true;
    if (!jq) return false;
    const ev = jq._data(el, 'events');
    if (ev && (ev.click || ev.mousedown || ev.mouseup)) return true;
    for (let p = el.parentElement, d = 0; p && d < 6; p = p.parentElement, d++) {
      const pe = jq._data(p, 'events');
      const hs = pe ? [].concat(pe.click || [], pe.mousedown || []) : [];
      for (const h of hs) {
        try { if (h.selector && el.matches(h.selector)) return true; } catch (e) { /* bad selector */ }
      }
    }
    return false;
  };
  const cssPath = (el) => {
    const parts = [];
    for (let cur = el; cur && cur.nodeType === 1 && cur !== document.documentElement; cur = cur.parentElement) {
      if (cur.id && document.querySelectorAll('#' + CSS.escape(cur.id)).length === 1) {
        parts.unshift('#' + CSS.escape(cur.id));
        return parts.join(' > ');
      }
      const tag = cur.tagName.toLowerCase();
      const sibs = cur.parentElement ? Array.from(cur.parentElement.children).filter((c) => c.tagName === cur.tagName) : [];
      parts.unshift(sibs.length > 1 ? `${tag}:nth-of-type(${sibs.indexOf(cur) + 1})` : tag);
    }
    return parts.join(' > ');
  };
  const ownText = (el) => clean(Array.from(el.childNodes).filter((n) => n.nodeType === 3)
    .map((n) => n.textContent).join(' '), 200);

  const items = [];
  const nodes = [];
  let truncated = false;
  const seenControl = new Set();
  const walk = (root) => {
    const all = root.querySelectorAll('*');
    for (const el of all) {
      if (items.length >= maxItems) { truncated = true; return; }
      if (SKIP.has(el.tagName)) continue;
      if (el.tagName === 'INPUT' && (el.type || '').toLowerCase() === 'hidden') continue;
      const role = roleOf(el);
      const tag = el.tagName.toLowerCase();
      const handler = hasHandler(el);
      const pointer = getComputedStyle(el).cursor === 'pointer';
      let isControl = CONTROL_ROLES.has(role) || (handler && tag !== 'body');
      // A pointer cursor inherited from a control counts once: on the control, not its children.
      if (!isControl && pointer && el.parentElement && getComputedStyle(el.parentElement).cursor !== 'pointer') isControl = true;
      let insideControl = false;
      for (let p = el.parentElement; p; p = p.parentElement) if (seenControl.has(p)) { insideControl = true; break; }
      const text = ownText(el);
      if (!isControl && !text) continue;
      if (insideControl && !isControl) continue;
      const radioLike = tag === 'input' && (el.type === 'checkbox' || el.type === 'radio');
      if (!visible(el) && !(radioLike && el.parentElement && visible(el.parentElement))) continue;
      if (isControl) seenControl.add(el);
      const r = el.getBoundingClientRect();
      const item = {
        kind: isControl ? 'control' : 'text', tag, role: role || (isControl ? 'clickable' : 'text'),
        name: isControl ? nameOf(el, role) : text, text,
        label: labelOf(el), near: '', value: null, type: tag === 'input' ? (el.type || 'text').toLowerCase() : null,
        placeholder: el.getAttribute('placeholder') || null, test_id: el.getAttribute('data-testid') || null,
        id: el.id || null, title: el.getAttribute('title') || null, alt: el.getAttribute('alt') || null,
        href: tag === 'a' ? el.getAttribute('href') : null,
        checked: radioLike ? el.checked : (el.getAttribute('aria-checked') === 'true' ? true : null),
        disabled: !!el.disabled || el.getAttribute('aria-disabled') === 'true',
        expanded: el.hasAttribute('aria-expanded') ? el.getAttribute('aria-expanded') === 'true' : null,
        selected: el.hasAttribute('aria-selected') ? el.getAttribute('aria-selected') === 'true' : (tag === 'option' ? el.selected : null),
        options: null, css: cssPath(el), box: [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)],
        attrs: [el.getAttribute('class') || '', el.getAttribute('name') || ''].join('|'),
        hint: clean([el.id, el.getAttribute('name'), el.getAttribute('class')].join(' ')
          .replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[-_]+/g, ' '), 60),
        context: '',
      };
      // The text around a control (a row, a card): says whose 'Like' or 'trash' icon it is.
      if (isControl) {
        let p = el.parentElement;
        for (let d = 0; p && d < 4 && !item.context; d++, p = p.parentElement) {
          const t = clean(p.innerText, 100);
          if (t && t !== item.name) item.context = t;
        }
      }
      if (tag === 'input' || tag === 'textarea') {
        // A password's value is never read: observations go to prompts, history and training data.
        if (!BUTTONY.has(item.type) && !radioLike && item.type !== 'password') item.value = el.value;
        if (!item.label) item.near = nearOf(el);
      }
      if (tag === 'select') {
        item.options = Array.from(el.options).map((o) => clean(o.textContent, 60)).slice(0, 200);
        item.value = el.selectedIndex >= 0 ? clean(el.options[el.selectedIndex].textContent) : '';
        if (!item.label) item.near = nearOf(el);
      }
      if (radioLike && !item.name) { item.near = nearOf(el); }
      if (radioLike && !item.label) {
        const next = el.nextSibling;
        const t = next ? clean(next.textContent, 60) : '';
        if (t) item.name = t;
        else if (el.parentElement && el.parentElement.tagName === 'LABEL') item.name = clean(el.parentElement.textContent);
      }
      items.push(item);
      nodes.push(el);
    }
  };
  walk(document);
  // A control that holds other controls (a dialog, a card, a row) is a container, rarely the target.
  const controlNodes = nodes.filter((n, i) => items[i].kind === 'control');
  items.forEach((it, i) => {
    it.container = it.kind === 'control' && controlNodes.some((o) => o !== nodes[i] && nodes[i].contains(o));
  });
  // A wrapper (a draggable title bar, an accordion panel) named only by a control inside it is that
  // control twice: list the control alone, so nothing has to guess between the two.
  const inner = (i) => nodes.map((o, j) => j).filter((j) => j !== i && items[j].kind === 'control' && nodes[i].contains(nodes[j]));
  const kept = items.filter((it, i) => !(it.container && it.name && inner(i).some((j) => items[j].name === it.name)));
  return { url: location.href, title: document.title, items: kept, truncated };
}
