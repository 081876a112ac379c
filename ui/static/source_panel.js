// Runs once when the source panel mounts (gr.HTML js_on_load): clicks (and Enter/Space) on any
// citation marker in the page are sent to the server as a `click` event of the source panel with
// {turn, n}; after the panel re-renders, the emphasised span is scrolled into view inside the panel.
const refOf = (el) => { const m = /\bcq-ref-(\d+)-(\d+)\b/.exec(el.className || ''); return m ? {turn: Number(m[1]), n: Number(m[2])} : null; };
const citeAt = (t) => (t && t.closest) ? t.closest('.cq-cite') : null;
const fire = (el) => {
  const ref = refOf(el); if (!ref) return;
  document.querySelectorAll('.cq-cite-clicked').forEach(x => x.classList.remove('cq-cite-clicked'));
  el.classList.add('cq-cite-clicked');
  trigger('click', ref);
};
if (window.__cqClick) document.removeEventListener('click', window.__cqClick, true);
if (window.__cqKey) document.removeEventListener('keydown', window.__cqKey, true);
window.__cqClick = (e) => { const el = citeAt(e.target); if (!el) return; e.preventDefault(); e.stopPropagation(); fire(el); };
window.__cqKey = (e) => { if (e.key !== 'Enter' && e.key !== ' ') return; const el = citeAt(e.target); if (!el) return; e.preventDefault(); fire(el); };
document.addEventListener('click', window.__cqClick, true);
document.addEventListener('keydown', window.__cqKey, true);
const reveal = () => {
  const body = element.querySelector('.cq-src-body');
  const mark = element.querySelector('mark.cq-active');
  if (!body || !mark) return;
  const top = mark.getBoundingClientRect().top - body.getBoundingClientRect().top + body.scrollTop;
  body.scrollTo({top: Math.max(0, top - body.clientHeight / 3), behavior: 'smooth'});
  const r = element.getBoundingClientRect();
  if (r.bottom < 0 || r.top > window.innerHeight) element.scrollIntoView({block: 'nearest'});
};
watch('value', () => requestAnimationFrame(reveal));
