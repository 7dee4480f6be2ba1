"""The report's transcript browser: every judged reply in the page as data, a small inline script
to filter it, page through it and open one query with every model's reply to it side by side.

The data is one JSON block (queries once, replies as rows that point at them), so 10,000
transcripts stay a few megabytes; the script draws only the page of results on screen. No
library and nothing from the network: the report stays one self-contained file.
"""

from __future__ import annotations

import json

from a3.report.transcripts import Transcripts

FILTERS = ("subject", "split", "kind", "hypothesis", "verdict")
MAX_TEXT = 20_000  # characters of one turn or reply kept in the page (a runaway reply would swell it)


def browser_data(transcripts: Transcripts) -> str:
    """The browser's JSON, safe inside a ``<script>`` element: every ``<`` escaped, so no text
    (``</script>``, ``<!--``) can end or bend the element."""
    queries = {
        qid: [
            q.hypothesis_id,
            q.kind,
            transcripts.split_of.get(qid, ""),
            [[m.role, _clip(m.content)] for m in q.messages],
        ]
        for qid, q in transcripts.queries.items()
    }
    replies = [
        [
            r.query_id,
            r.subject,
            _clip(r.response.text) if r.response.status == "ok" else f"[target error] {r.response.error}",
            r.verdict.status,
            None if r.verdict.flagged is None else int(r.verdict.flagged),
            r.verdict.reason,
            int(bool(r.verdict.unsafe)),
            r.verdict.unsafe_reason if r.verdict.unsafe else "",
        ]  # a leak on a benign query
        for r in transcripts.replies
    ]
    data = {
        "subjects": [[s.method, s.name, s.log] for s in transcripts.subjects],
        "queries": queries,
        "replies": replies,
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _clip(text: str) -> str:
    return (
        text
        if len(text) <= MAX_TEXT
        else text[:MAX_TEXT] + f" [… {len(text) - MAX_TEXT} more characters in the run's records]"
    )


def browser_block(transcripts: Transcripts) -> str:
    selects = "".join(f'<select data-key="{key}" aria-label="{key}"></select>' for key in FILTERS)
    return (
        f'<div id="tx-app"><div class="tx-bar">{selects}<input type="search" data-key="text" placeholder="text in the '
        'conversation or reply" aria-label="text"><button id="tx-clear">clear filters</button> '
        '<span id="tx-count"></span></div>'
        '<ol id="tx-list"></ol><button id="tx-more">show more</button><div id="tx-detail"></div></div>'
        f'<script type="application/json" id="tx-data">{browser_data(transcripts)}</script>'
    )


# In STYLE and SCRIPT a backslash at the end of a line joins the next line to it: it keeps the source
# within the line length and is no part of the text.
STYLE = """
.tx-bar { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin: .6rem 0; position: sticky; top: 0; \
background: #fff;
  padding: .4rem 0; z-index: 1; } .tx-bar select, .tx-bar input { font-size: .85rem; max-width: 16rem; }
#tx-list { padding-left: 0; list-style: none; font-size: .88rem; } #tx-list li { border: 1px solid #e5e7eb; \
border-radius: 4px;
  margin: .25rem 0; padding: .3rem .5rem; cursor: pointer; } #tx-list li:hover, \
#tx-list li.open { background: #f9fafb; }
.tx-tag { display: inline-block; font-size: .75rem; padding: 0 .35rem; border-radius: 3px; background: #f3f4f6; \
margin-right: .3rem; }
.tx-flag { background: #fee2e2; } .tx-ok { background: #dcfce7; } .tx-err { background: #fef3c7; }
#tx-detail .tx-turn { white-space: pre-wrap; border-left: 3px solid #d1d5db; padding: .2rem .6rem; margin: .3rem 0; \
font-size: .88rem; }
#tx-detail .tx-replies { display: flex; gap: .6rem; overflow-x: auto; } #tx-detail .tx-reply { flex: 0 0 20rem; \
border: 1px solid #e5e7eb;
  border-radius: 4px; padding: .4rem; font-size: .85rem; } #tx-detail .tx-reply.current { border-color: #1d4ed8; }
#tx-detail .tx-text { white-space: pre-wrap; max-height: 24rem; overflow-y: auto; }
"""

# Kept small and plain: a reader of the page can check what it does.
SCRIPT = """
(() => {
const D = JSON.parse(document.getElementById('tx-data').textContent);
const label = s => D.subjects[s][0] + ': ' + D.subjects[s][1];
const verdictOf = r => r[3] !== 'ok' ? 'error' : r[4] ? 'flagged' : 'not flagged';
const reading = r => (r[3] !== 'ok' ? r[3] : D.queries[r[0]][1] === 'harmful' ? (r[4] ? 'unsafe' : 'safe') : \
(r[4] ? 'refused' : 'answered'))
  + (r[6] ? ', unsafe (leak)' : '');
const field = {subject: r => label(r[1]), split: r => D.queries[r[0]][2], kind: r => D.queries[r[0]][1],
               hypothesis: r => D.queries[r[0]][0], verdict: verdictOf};
const byQuery = {};
D.replies.forEach((r, i) => (byQuery[r[0]] = byQuery[r[0]] || []).push(i));
const app = document.getElementById('tx-app'), list = document.getElementById('tx-list');
const more = document.getElementById('tx-more'), count = document.getElementById('tx-count'), \
detail = document.getElementById('tx-detail');
const controls = {}; app.querySelectorAll('[data-key]').forEach(c => controls[c.dataset.key] = c);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; \
if (text != null) e.textContent = text; return e; };
for (const key in field) {
  const values = [...new Set(D.replies.map(field[key]))].filter(v => v !== '')\
.sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));
  controls[key].append(new Option('all: ' + key, ''), ...values.map(v => new Option(v, v)));
}
let matches = [], shown = 0;
function apply() {
  const want = {}; for (const key in field) if (controls[key].value) want[key] = controls[key].value;
  const text = controls.text.value.toLowerCase();
  matches = [];
  D.replies.forEach((r, i) => {
    for (const key in want) if (field[key](r) !== want[key]) return;
    if (text && !(r[2].toLowerCase().includes(text) \
|| D.queries[r[0]][3].some(t => t[1].toLowerCase().includes(text)))) return;
    matches.push(i);
  });
  list.replaceChildren(); shown = 0; page();
}
function page() {
  for (const i of matches.slice(shown, shown + 50)) {
    const r = D.replies[i], q = D.queries[r[0]], item = el('li');
    item.dataset.index = i;
    item.append(el('span', 'tx-tag ' + (r[6] ? 'tx-flag' : r[3] !== 'ok' ? 'tx-err' : r[4] ? 'tx-flag' : 'tx-ok'), \
reading(r)),
                el('span', 'tx-tag', label(r[1])), el('span', 'tx-tag', \
r[0] + ' · ' + q[1] + (q[2] ? ' · ' + q[2] : '')),
                el('span', '', q[3][q[3].length - 1][1].slice(0, 140)));
    item.onclick = () => open(i, item);
    list.append(item);
  }
  shown = Math.min(shown + 50, matches.length);
  count.textContent = matches.length + ' of ' + D.replies.length + ' transcripts' \
+ (shown < matches.length ? ', ' + shown + ' shown' : '');
  more.hidden = shown >= matches.length;
}
function open(i, item) {
  list.querySelectorAll('li.open').forEach(li => li.classList.remove('open')); item.classList.add('open');
  const r = D.replies[i], q = D.queries[r[0]];
  const head = el('h3', '', r[0] + ' (' + q[0] + ', ' + q[1] + (q[2] ? ', ' + q[2] : '') + ')');
  const turns = q[3].map(t => el('div', 'tx-turn', t[0] + ': ' + t[1]));
  const replies = el('div', 'tx-replies');
  for (const j of byQuery[r[0]]) {
    const o = D.replies[j], box = el('div', 'tx-reply' + (j === i ? ' current' : ''));
    box.append(el('strong', '', label(o[1])), el('div', '', 'verdict: ' + reading(o) + (o[5] ? ' — ' + o[5] : '')
               + (o[6] ? '; harmful judge: ' + o[7] : '')), el('div', 'tx-text', o[2]));
    replies.append(box);
  }
  detail.replaceChildren(head, ...turns, el('p', '', 'Every measured model\\'s reply to this query:'), replies);
  detail.scrollIntoView({block: 'nearest'});
}
function setFilter(want) {
  for (const key in controls) {
    const value = want[key] || '';  // a value no transcript has still filters (to none), never widens
    if (value && controls[key].tagName === 'SELECT' && ![...controls[key].options].some(o => o.value === value)) \
controls[key].append(new Option(value, value));
    controls[key].value = value;
  }
  apply(); detail.replaceChildren(); document.getElementById('transcripts').scrollIntoView();
}
for (const key in controls) controls[key].addEventListener(key === 'text' ? 'input' : 'change', apply);
document.getElementById('tx-clear').onclick = () => setFilter({});
more.onclick = page;
document.querySelectorAll('a.drill').forEach(a => a.onclick = e => { e.preventDefault(); \
setFilter(JSON.parse(a.dataset.filter)); });
apply();
})();
"""
