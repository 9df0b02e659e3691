"""An HTML template for ``dvc plots show`` that renders with no network.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so on an offline
machine (a cluster node, a train) every curve is blank. ``make`` installs pinned copies
from the npm registry into ``build/vega`` and :func:`ensure_template` inlines the three
minified bundles into one template, so ``dvc_plots/index.html`` is a single file that
renders from any folder, e-mail or archive. ``.dvc/config`` names the template
(``plots.html_template``).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

from forgeseg.core.atomic import write_text
from forgeseg.core.errors import ForgesegError

__all__ = [
    "BUNDLES",
    "NPM_DIR",
    "TEMPLATE_PATH",
    "VEGA_PACKAGES",
    "ensure_template",
    "install_vega",
    "installed_versions",
    "template_html",
]

log = logging.getLogger(__name__)

# Exact pins. DVC 3's specs are vega-lite v5 ($schema .../vega-lite/v5.json) and its own
# page uses vega 5.20 / vega-lite 5.2 / vega-embed 6.18: these are the last releases of
# those same major lines (vega 6 and vega-embed 7 change the build and the peer ranges).
VEGA_PACKAGES: dict[str, str] = {"vega": "5.33.1", "vega-lite": "5.23.0", "vega-embed": "6.29.0"}
# Loaded in this order: vega-lite needs the global ``vega``, vega-embed both globals.
BUNDLES: dict[str, str] = {
    "vega": "build/vega.min.js",
    "vega-lite": "build/vega-lite.min.js",
    "vega-embed": "build/vega-embed.min.js",
}
NPM_DIR = Path("build/vega")
TEMPLATE_PATH = NPM_DIR / "plots_template.html"
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

# ``{scripts}`` is left out on purpose: DVC fills it with the CDN <script> tags, which
# would either hang offline or, online, replace the pinned globals with older ones.
_PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
<!--
{notices}
-->
{bundles}
    <script type="text/javascript">
    // SVG rather than vega-embed's default canvas: crisp when zoomed, and the drawn
    // marks are in the DOM, where the offline check (forgeseg.pipeline.plots_browser) sees them.
    (function () {{
        var embed = window.vegaEmbed;
        window.vegaEmbed = function (el, spec, opt) {{
            return embed(el, spec, Object.assign({{renderer: "svg"}}, opt || {{}}));
        }};
    }})();
    </script>
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def installed_versions(npm_dir: Path = NPM_DIR) -> dict[str, str | None]:
    """Version of each pinned package under ``npm_dir/node_modules`` (None: absent)."""
    found: dict[str, str | None] = {}
    for name in VEGA_PACKAGES:
        meta = npm_dir / "node_modules" / name / "package.json"
        try:
            found[name] = json.loads(meta.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            found[name] = None
    return found


def install_vega(npm_dir: Path = NPM_DIR) -> None:
    """``npm install`` the exact pins into ``npm_dir`` (needs the npm registry)."""
    npm = shutil.which("npm")
    if npm is None:
        raise ForgesegError(
            "npm not found: install Node.js with npm (Debian: apt-get install npm), then rerun "
            "make; dvc plots show needs it for the offline plots template"
        )
    specs = [f"{name}@{version}" for name, version in VEGA_PACKAGES.items()]
    # --ignore-scripts: only the prebuilt bundles are used, no package needs to run code.
    cmd = [npm, "install", "--no-audit", "--no-fund", "--no-save", "--ignore-scripts"]
    cmd += ["--prefix", str(npm_dir), *specs]
    npm_dir.mkdir(parents=True, exist_ok=True)
    log.info("installing %s into %s", " ".join(specs), npm_dir)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ForgesegError(f"npm install {' '.join(specs)} failed:\n" + "\n".join(tail))


def _notice(npm_dir: Path, name: str) -> str:
    """Name, version, licence and (when the package ships one) the licence text."""
    pkg = npm_dir / "node_modules" / name
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    repo = meta.get("repository", "")
    url = meta.get("homepage") or (repo.get("url", "") if isinstance(repo, dict) else repo)
    head = f"{name} {meta['version']} ({meta.get('license', 'see package')}): {url}"
    licence = pkg / "LICENSE"
    text = licence.read_text(encoding="utf-8").strip() if licence.is_file() else ""
    # "--" must not appear inside an HTML comment.
    return "\n\n".join(filter(None, [head, text])).replace("--", "- -")


def _bundle(npm_dir: Path, name: str) -> str:
    path = npm_dir / "node_modules" / name / BUNDLES[name]
    try:
        code = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ForgesegError(f"{path}: cannot read the {name} bundle ({exc}); rerun make") from exc
    # DVC fills the template with str.replace: a placeholder inside the code would be hit.
    hit = [p for p in PLACEHOLDERS if p in code]
    if hit:
        raise ForgesegError(f"{path}: contains the DVC placeholder {hit[0]}; cannot inline it")
    # Inside an inline script, "</script" would end the element early.
    code = re.sub(r"</(script)", r"<\\/\1", code, flags=re.IGNORECASE)
    return f'    <script type="text/javascript">\n{code}\n    </script>'


def template_html(npm_dir: Path = NPM_DIR) -> str:
    """The template text, with the installed bundles inlined (versions must match the pins)."""
    found = installed_versions(npm_dir)
    wrong = {n: v for n, v in found.items() if v != VEGA_PACKAGES[n]}
    if wrong:
        raise ForgesegError(
            f"{npm_dir}: vega packages {wrong} differ from the pins {VEGA_PACKAGES}; rerun make"
        )
    notices = "\n\n".join(_notice(npm_dir, name) for name in VEGA_PACKAGES)
    bundles = "\n".join(_bundle(npm_dir, name) for name in VEGA_PACKAGES)
    return _PAGE.format(
        notices=notices,
        bundles=bundles,
        refresh_tag="{refresh_tag}",
        plot_divs="{plot_divs}",
    )


def ensure_template(npm_dir: Path = NPM_DIR, out: Path = TEMPLATE_PATH) -> Path:
    """Install the pins unless already there (so rebuilds work offline), write ``out``."""
    if installed_versions(npm_dir) != VEGA_PACKAGES:
        install_vega(npm_dir)
    write_text(out, template_html(npm_dir))
    log.info("wrote %s", out)
    return out
