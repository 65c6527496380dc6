// Injected into every page and frame of a recorded context. Reports user actions to the
// Python side through the exposed binding __rpaRecord; locator choice happens there.
(() => {
  if (window.__rpaRecorderInstalled) return;
  window.__rpaRecorderInstalled = true;
  const send = (ev) => {
    try { window.__rpaRecord && window.__rpaRecord(Object.assign({url: location.href, ts: Date.now()}, ev)); } catch (e) {}
  };
  const INTERACTIVE = 'a,button,input,select,textarea,label,summary,[role],[onclick],[contenteditable=""],[contenteditable=true],[tabindex]';
  const labelOf = (el) => {
    if (el.labels && el.labels.length) return el.labels[0].innerText.trim();
    const aria = el.getAttribute('aria-label');
    if (aria) return aria.trim();
    const by = el.getAttribute('aria-labelledby');
    if (by) { const l = document.getElementById(by); if (l) return l.innerText.trim(); }
    return '';
  };
  const roleOf = (el) => {
    const explicit = el.getAttribute('role');
    if (explicit) return explicit;
    const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'a' && el.hasAttribute('href')) return 'link';
    if (tag === 'button' || (tag === 'input' && ['button', 'submit', 'reset', 'image'].includes(type))) return 'button';
    if (tag === 'input' && type === 'checkbox') return 'checkbox';
    if (tag === 'input' && type === 'radio') return 'radio';
    if (tag === 'select') return el.multiple ? 'listbox' : 'combobox';
    if (tag === 'textarea' || (tag === 'input' && ['', 'text', 'email', 'tel', 'url'].includes(type))) return 'textbox';
    if (tag === 'input' && type === 'search') return 'searchbox';
    if (/^h[1-6]$/.test(tag)) return 'heading';
    return '';
  };
  const nameOf = (el, role) => {
    const l = labelOf(el);
    if (l) return l;
    if (['button', 'link', 'heading', 'tab', 'menuitem', 'option'].includes(role))
      return (el.tagName === 'INPUT' ? el.value : el.innerText || '').trim().replace(/\s+/g, ' ');
    return (el.getAttribute('title') || el.getAttribute('placeholder') || '').trim();
  };
  const cssPath = (el) => {
    const parts = [];
    let node = el;
    while (node && node.nodeType === 1 && parts.length < 5) {
      if (node.id && /^[A-Za-z][\w-]*$/.test(node.id)) { parts.unshift('#' + node.id); break; }
      let part = node.tagName.toLowerCase();
      const nm = node.getAttribute('name');
      if (nm && /^[\w-]+$/.test(nm)) part += `[name="${nm}"]`;
      else if (node.parentElement) {
        const same = Array.from(node.parentElement.children).filter(c => c.tagName === node.tagName);
        if (same.length > 1) part += `:nth-of-type(${same.indexOf(node) + 1})`;
      }
      parts.unshift(part);
      if (nm) break;
      node = node.parentElement;
    }
    return parts.join(' > ');
  };
  const describe = (el) => {
    const role = roleOf(el);
    const text = (el.innerText || '').trim().replace(/\s+/g, ' ');
    return {
      tag: el.tagName.toLowerCase(),
      type: (el.getAttribute('type') || '').toLowerCase(),
      test_id: el.getAttribute('data-testid') || el.getAttribute('data-test-id') || '',
      role, name: nameOf(el, role), label: labelOf(el),
      placeholder: el.getAttribute('placeholder') || '',
      alt: el.getAttribute('alt') || '',
      text: text.length <= 60 ? text : '',
      title: el.getAttribute('title') || '',
      css: cssPath(el),
      field_name: el.getAttribute('name') || el.id || '',
      sensitive: el.hasAttribute('data-rpa-sensitive') || (el.getAttribute('type') || '').toLowerCase() === 'password',
      href: el.getAttribute('href') || '',
      download: el.hasAttribute('download'),
    };
  };
  const describeCounted = (el) => { const d = describe(el); d.counts = counts(d); return d; };
  // Count matches per locator kind at event time, before a click can navigate the page away.
  const norm = (t) => (t || '').trim().replace(/\s+/g, ' ');
  const all = () => Array.from(document.querySelectorAll('*'));
  const attrCount = (attr, v) => all().filter(e => e.getAttribute(attr) === v).length;
  const counts = (d) => {
    const c = {};
    try {
      if (d.test_id) c.test_id = document.querySelectorAll(`[data-testid="${CSS.escape(d.test_id)}"]`).length;
      if (d.role && d.name) c.role = all().filter(e => roleOf(e) === d.role && norm(nameOf(e, d.role)) === norm(d.name)).length;
      if (d.label) c.label = all().filter(e => ['INPUT', 'SELECT', 'TEXTAREA'].includes(e.tagName) && norm(labelOf(e)) === norm(d.label)).length;
      if (d.placeholder) c.placeholder = attrCount('placeholder', d.placeholder);
      if (d.alt) c.alt = attrCount('alt', d.alt);
      if (d.text) c.text = all().filter(e => !['SCRIPT', 'STYLE', 'HTML', 'BODY'].includes(e.tagName) && norm(e.innerText) === d.text && !Array.from(e.children).some(ch => norm(ch.innerText) === d.text)).length;
      if (d.title) c.title = attrCount('title', d.title);
      if (d.css) c.css = document.querySelectorAll(d.css).length;
    } catch (e) {}
    return c;
  };
  const interactive = (el) => el && el.closest ? el.closest(INTERACTIVE) : null;
  let lastEnter = -1e9;  // Enter submits a form with a simulated click: the press is the step, not the click
  document.addEventListener('click', (e) => {
    if (e.detail === 0 && performance.now() - lastEnter < 250) return;
    const raw = e.target;
    const el = interactive(raw);
    if (!el) { send({kind: 'click_nothing', el: describeCounted(raw)}); return; }
    const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'select' || (tag === 'input' && !['button', 'submit', 'reset', 'image', 'checkbox', 'radio', 'file'].includes(type)) || tag === 'textarea') return;
    if (tag === 'input' && (type === 'checkbox' || type === 'radio')) return;  // recorded on change
    if (tag === 'input' && type === 'file') return;  // recorded as upload on change
    if (tag === 'label' && el.control && ['checkbox', 'radio', 'file'].includes(el.control.type)) return;
    send({kind: 'click', el: describeCounted(el)});
  }, true);
  document.addEventListener('change', (e) => {
    const el = e.target;
    if (!el || !el.tagName) return;
    const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'select') {
      send({kind: 'select', el: describeCounted(el), value: el.value, option: el.selectedOptions[0] ? el.selectedOptions[0].label : ''});
    } else if (type === 'checkbox' || type === 'radio') {
      send({kind: el.checked ? 'check' : 'uncheck', el: describeCounted(el)});
    } else if (type === 'file') {
      send({kind: 'upload', el: describeCounted(el), files: Array.from(el.files || []).map(f => f.name)});
    } else if (tag === 'input' || tag === 'textarea') {
      send({kind: 'fill', el: describeCounted(el), value: el.value});
    }
  }, true);
  document.addEventListener('keydown', (e) => {
    const special = ['Enter', 'Escape', 'Tab'];
    if (!special.includes(e.key)) return;
    if (e.key === 'Enter') lastEnter = performance.now();
    const el = e.target;
    // Flush the field value first: Enter may submit before change fires.
    if (el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') && !['checkbox', 'radio', 'file', 'submit', 'button'].includes((el.type || '').toLowerCase()))
      send({kind: 'fill', el: describeCounted(el), value: el.value});
    send({kind: 'press', key: e.key, el: el && el.tagName ? describeCounted(el) : null});
  }, true);
  // Called by Recorder.stop(): a field still focused has typed text that no change event reported.
  window.__rpaFlush = () => {
    const el = document.activeElement;
    if (el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') && !['checkbox', 'radio', 'file', 'submit', 'button'].includes((el.type || '').toLowerCase()) && el.value)
      send({kind: 'fill', el: describeCounted(el), value: el.value});
  };
  send({kind: 'loaded', top: window.top === window});
})();
