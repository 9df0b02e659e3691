"""The offline ``dvc plots show`` template: built right, and drawn by a browser with no network."""

import json
import os
from pathlib import Path

import pytest
from dvc_render.html import PAGE_HTML

from forgeseg.core.errors import ForgesegError
from forgeseg.pipeline import plots_offline
from forgeseg.pipeline.plots_browser import (
    check_page,
    find_chromium,
    render_page,
    scan_dom,
    stage_repo,
    vega_plots,
)
from forgeseg.pipeline.plots_offline import VEGA_PACKAGES, ensure_template, template_html

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / plots_offline.TEMPLATE_PATH


def fake_install(npm_dir: Path, versions: dict[str, str] = VEGA_PACKAGES, code: str = "") -> Path:
    """node_modules with a one-line bundle per package, as npm would leave them."""
    for name, version in versions.items():
        pkg = npm_dir / "node_modules" / name
        (pkg / "build").mkdir(parents=True)
        meta = {"version": version, "license": "BSD-3-Clause", "homepage": f"https://x/{name}"}
        (pkg / "package.json").write_text(json.dumps(meta))
        bundle = pkg / plots_offline.BUNDLES[name]
        bundle.write_text(code or f"window.loaded_{name.replace('-', '_')} = 1;")
    (npm_dir / "node_modules" / "vega-lite" / "LICENSE").write_text("Copyright (c) 2015, UW IDL")
    return npm_dir


def test_template_inlines_the_bundles_in_load_order_and_keeps_dvc_placeholders(tmp_path):
    html = template_html(fake_install(tmp_path))
    positions = [html.index(f"loaded_{n.replace('-', '_')}") for n in VEGA_PACKAGES]
    assert positions == sorted(positions)  # vega, then vega-lite, then vega-embed
    assert "{plot_divs}" in html and "{refresh_tag}" in html
    # {scripts} would bring DVC's CDN <script> tags back.
    assert "{scripts}" not in html and "https://cdn" not in html
    assert "BSD-3-Clause" in html and "Copyright (c) 2015, UW IDL" in html


def test_template_is_a_page_dvc_render_fills(tmp_path):
    from dvc_render.html import HTML

    page = HTML(template_html(fake_install(tmp_path))).with_element("<div id='p'></div>").embed()
    assert "<div id='p'></div>" in page and "{plot_divs}" not in page


def test_script_end_inside_a_bundle_is_escaped(tmp_path):
    html = template_html(fake_install(tmp_path, code='var s = "</script>";'))
    assert 'var s = "<\\/script>";' in html
    assert html.count("</script>") == len(VEGA_PACKAGES) + 1  # the bundles and the svg shim


def test_bundle_holding_a_dvc_placeholder_is_refused(tmp_path):
    with pytest.raises(ForgesegError, match="placeholder"):
        template_html(fake_install(tmp_path, code="var t = '{plot_divs}';"))


def test_stale_install_is_refused_with_rerun_make(tmp_path):
    fake_install(tmp_path, versions={**VEGA_PACKAGES, "vega": "5.20.2"})
    with pytest.raises(ForgesegError, match="rerun make"):
        template_html(tmp_path)


def test_ensure_template_reuses_a_matching_install_without_npm(tmp_path, monkeypatch):
    # No npm and no network: a rebuild from what is installed must still work.
    monkeypatch.setattr(plots_offline.shutil, "which", lambda _name: None)
    out = ensure_template(fake_install(tmp_path / "npm"), tmp_path / "t.html")
    assert "loaded_vega_embed" in out.read_text()


def test_ensure_template_without_npm_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(plots_offline.shutil, "which", lambda _name: None)
    with pytest.raises(ForgesegError, match="npm not found"):
        ensure_template(tmp_path / "npm", tmp_path / "t.html")
    assert not (tmp_path / "t.html").exists()


def test_dvc_config_names_the_built_template():
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        configured = repo.config["plots"]["html_template"]
    # DVC reads a relative plots.html_template from the .dvc folder.
    assert Path(os.path.normpath(REPO / ".dvc" / configured)) == TEMPLATE


def page_with(*divs: tuple[str, str]) -> str:
    return "".join(
        f"<div id = \"{i}\"><script>var spec = {s};\nvegaEmbed('#{i}', spec);</script></div>"
        for i, s in divs
    )


def test_vega_plots_tells_plots_without_data():
    plots = vega_plots(page_with(("a", '{"data": {"values": [{"x": 1}]}}'), ("b", "{}")))
    assert plots == {"a": True, "b": False}


def test_scan_dom_needs_shapes_inside_a_mark_group():
    plots = {"drawn": True, "axes_only": True, "canvas": True, "bare": True, "empty": False}
    dom = (
        '<div id="drawn"><svg><g class="mark-group role-axis"><g class="mark-rule role-axis-tick">'
        '<line></line></g></g><g class="mark-line role-mark marks"><path d="M0,0L1,1"></path>'
        "</g></svg></div>"
        '<div id="axes_only"><svg><g class="mark-rule role-axis-grid"><line></line></g>'
        '<g class="mark-line role-mark marks"></g></svg></div>'
        '<div id="canvas"><canvas width="10" height="10"></canvas></div>'
        '<div id="bare"><script>vegaEmbed("#bare", spec);</script></div>'
        '<div id="empty"><canvas></canvas></div>'
    )
    result = scan_dom(dom, plots)
    assert result.drawn == ["drawn", "canvas"]
    assert result.blank == ["axes_only", "bare"]
    assert result.no_data == ["empty"]
    assert not result.ok


# ---- in a real browser -------------------------------------------------------------------

CHROMIUM = find_chromium()
browser = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed (apt-get install chromium; .ci/run does)"
)
built = pytest.mark.skipif(
    not TEMPLATE.is_file(), reason=f"{TEMPLATE.relative_to(REPO)} missing: run make to build it"
)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    return stage_repo(REPO, tmp_path_factory.mktemp("plots") / "repo")


@browser
@built
def test_offline_template_draws_every_plot_with_no_network(staged, tmp_path):
    # No --html-template: the page must come from what .dvc/config names.
    page = render_page(staged, tmp_path / "out")
    assert "cdn.jsdelivr" not in page.read_text()
    result = check_page(CHROMIUM, page)
    assert result.blank == []
    # The committed metrics/ and plots/ hold 6 training curves and 4 evaluate tables.
    assert len(result.drawn) >= 10, result


@browser
def test_dvc_default_cdn_template_draws_nothing_with_no_network(staged, tmp_path):
    cdn = tmp_path / "cdn.html"
    cdn.write_text(PAGE_HTML)
    page = render_page(staged, tmp_path / "out", html_template=cdn)
    assert "cdn.jsdelivr" in page.read_text()
    result = check_page(CHROMIUM, page)
    assert result.drawn == [] and len(result.blank) >= 10, result
    assert not result.ok
