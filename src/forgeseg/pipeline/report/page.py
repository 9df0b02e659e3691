"""The report as one self-contained HTML page: no file, font or script from elsewhere.

Images are ``data:`` URIs and a Content-Security-Policy forbids loading anything else, so
the page opens offline and cannot leak a figure by fetching it. A small inline script
records, once the page has loaded, how many images decoded and every error the page saw,
in the attributes of ``<div id="selfcheck">``; :mod:`forgeseg.pipeline.report.browser`
reads them from headless Chromium's DOM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from forgeseg.pipeline.report.collect import SUPPORT_UNITS, Copy, FigureReport
from forgeseg.pipeline.report.words import describe

__all__ = ["CSP", "Entry", "authentic_row", "forged_section", "forged_title", "page_html"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1280px;padding:16px;
color:#1d1d1f;background:#fafafa}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:0 0 6px}h3{font-size:14px;margin:6px 0}
.summary{margin:6px 0 14px}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;
vertical-align:-1px}
section.fig{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:12px 0}
.row{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}
table.facts{border-collapse:collapse;font-size:13px}
table.facts td{padding:2px 8px;border-bottom:1px solid #eee;vertical-align:top}
table.facts td:first-child{color:#555;white-space:nowrap}
.copy{border-top:1px solid #eee;margin-top:10px;padding-top:6px}
figure{margin:0;text-align:center;font-size:12px;color:#555}
table.auth{border-collapse:collapse;width:100%;background:#fff}
table.auth td{border-bottom:1px solid #ddd;padding:6px;vertical-align:top}
img{image-rendering:auto;border:1px solid #ccc}
"""

# Runs before the body is parsed, so it hears every error event (capture phase: image
# load failures do not bubble), console.error calls and Content-Security-Policy refusals.
_SELFCHECK = """
(function(){var errs=[];function note(m){errs.push(String(m))}
window.addEventListener('error',function(e){var t=e.target;
note(t&&t.tagName?('failed to load <'+t.tagName.toLowerCase()+'> '+(t.alt||'')):
(e.message||'error'))},true);
document.addEventListener('securitypolicyviolation',function(e){note('blocked '+e.blockedURI)});
var ce=console.error;console.error=function(){note(Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments)};
window.addEventListener('load',function(){var imgs=document.images,ok=0,bad=[];
for(var i=0;i<imgs.length;i++){var im=imgs[i];if(im.complete&&im.naturalWidth>0){ok++}
else{bad.push(im.alt)}}var el=document.getElementById('selfcheck');
el.setAttribute('data-images',imgs.length);el.setAttribute('data-loaded',ok);
el.setAttribute('data-broken',bad.join(' | '));el.setAttribute('data-errors',errs.join(' | '));
el.setAttribute('data-done','1')})})();
"""

_LEGEND = (
    ("#00c8ff", "source side"),
    ("#ff2828", "copy side"),
    ("#ffe600", "matched points"),
    ("#ff00c8", "network region"),
    ("#c878ff", "rejected candidate"),
    ("#00ff00", "truth (when known)"),
)


@dataclass
class Entry:
    """One figure's part of the page: its HTML, sort key and embedded bytes."""

    uid: str
    forged: bool
    # Higher first: (score, best support) of a flagged figure, (support of the strongest
    # rejected candidate, 0) of an authentic one.
    rank_key: tuple[float, float]
    title: str  # heading of a flagged figure, after its rank
    html: str
    nbytes: int


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{escape(alt)}">'


def _facts(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{cells}</table>'


def _num(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.3f}"


def _copy_rows(copy: Copy) -> list[tuple[str, str]]:
    tr = copy.transform
    unit = SUPPORT_UNITS.get(copy.matcher, "support")
    return [
        ("matcher", copy.matcher),
        ("support", f"{tr.support} {unit}"),
        ("correlation (ZNCC)", _num(tr.zncc)),
        ("fine-grain correlation", _num(tr.hp_zncc)),
        ("flat or saturated share", _num(tr.graphic)),
        ("grain residual (0: shared grain)", _num(tr.residual)),
        (
            "map (x, y) source to copy",
            "; ".join(" ".join(f"{v:.3f}" for v in r) for r in tr.matrix),
        ),
    ]


def _centre(copy: Copy) -> tuple[float, float] | None:
    pts = copy.transform.src_points
    return (float(pts[:, 0].mean()), float(pts[:, 1].mean())) if len(pts) else None


def forged_title(rep: FigureReport) -> str:
    return f"{rep.uid} \N{EM DASH} called forged, score {rep.score:.3f}"


def forged_section(
    rep: FigureReport, figure_uri: str, crops: Sequence[tuple[Copy, Sequence[str]]]
) -> str:
    """A figure called forged: the outlined figure, its facts, then every copy-move with
    its words, crops (source, copy with the transform undone, difference) and scores."""
    h, w = rep.shape
    parts = [
        f'<div class="row">{_img(figure_uri, f"{rep.uid}: figure with both sides outlined")}'
        f"{_facts([('size', f'{w} x {h} px'), *rep.facts])}</div>",
    ]
    n = len(crops)
    for i, (copy, uris) in enumerate(crops, 1):
        words = describe(copy.transform.matrix, _centre(copy))
        figs = "".join(
            f"<figure>{_img(u, f'{rep.uid} copy {i}: {cap}')}"
            f"<figcaption>{cap}</figcaption></figure>"
            for u, cap in zip(
                uris, ("source", "copy, transform undone", "difference x3"), strict=True
            )
        )
        parts.append(
            f'<div class="copy"><h3>copy-move {i} of {n}: {escape(words)}</h3>'
            f'<div class="row">{figs}{_facts(_copy_rows(copy))}</div></div>'
        )
    for finding in rep.findings:
        if finding.origin == "network":
            mean = "n/a" if finding.net_mean is None else f"{finding.net_mean:.3f}"
            parts.append(
                f'<div class="copy"><h3>network region: {int(finding.mask.sum())} px, '
                f"mean probability {mean} (no transform to show)</h3></div>"
            )
    return "\n".join(parts)


def authentic_row(rep: FigureReport, figure_uri: str) -> str:
    """A figure called authentic, with its strongest rejected candidate (or none)."""
    rej = rep.rejected
    if rej is None:
        why = "no candidate copy reached the checks"
    else:
        where = ""
        if rej.matrix is not None:
            where = f"; {describe(rej.matrix)}"
        why = (
            f"strongest rejected candidate: {rej.matcher}, {rej.strength} {rej.unit}{where}; "
            f"rejected by {rej.reason}: {rej.words}"
        )
    return (
        f"<tr><td>{_img(figure_uri, f'{rep.uid}: figure called authentic')}</td>"
        f"<td><b>{escape(rep.uid)}</b><br>{escape(why)}"
        f"<details><summary>scores</summary>{_facts(rep.facts)}</details></td></tr>"
    )


def page_html(title: str, forged: Sequence[Entry], authentic: Sequence[Entry]) -> str:
    """The whole page: a summary, flagged figures most suspicious first, then authentic
    ones (strongest rejected candidate first)."""
    legend = "".join(
        f'<span><i class="sw" style="background:{c}"></i>{escape(t)}</span>' for c, t in _LEGEND
    )
    n = len(forged) + len(authentic)
    toc = "".join(
        f'<li><a href="#fig-{i}">{escape(e.title)}</a></li>' for i, e in enumerate(forged, 1)
    )
    sections = [
        f'<section class="fig" id="fig-{i}"><h2>#{i} {escape(e.title)}</h2>\n{e.html}</section>'
        for i, e in enumerate(forged, 1)
    ]
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<div class="summary">{n} figures examined: {len(forged)} called forged, '
        f"{len(authentic)} called authentic. Which side of a copy-move was the original "
        "cannot be told from the pixels: <i>source</i> is the side the transform starts "
        "from.</div>",
        f'<div class="legend">{legend}</div>',
        f"<h2 style='margin-top:18px'>Called forged ({len(forged)})</h2>",
        f'<ol class="toc">{toc}</ol>',
        *sections,
        f"<h2 style='margin-top:18px'>Called authentic ({len(authentic)})</h2>",
        '<table class="auth">',
        *(e.html for e in authentic),
        "</table>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n<script>{_SELFCHECK}</script>\n"
        "</head><body>\n" + "\n".join(body) + '\n<div id="selfcheck" hidden></div>\n'
        "</body></html>\n"
    )
