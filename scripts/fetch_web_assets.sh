#!/usr/bin/env bash
# Fetch the JavaScript that the built book needs, so that no page loads anything from a CDN.
#
#   book/_offline/mathjax/        MathJax 3 (es5 build: tex-chtml.js and its fonts)
#   book/_offline/html-manager/   @jupyter-widgets/html-manager (renders ipywidgets in static HTML)
#   book/_offline/require.js      RequireJS (the html-manager's embed script needs it)
#
# The packages are installed with npm into .cache/npm-assets/ (ignored by git) and copied.
# The folder is deliberately not called `_static`: Jupyter Book 1.x adds a <script> tag for every
# .js file found under `_static`, which would pull hundreds of MathJax modules into every page.
# Re-running is cheap: nothing happens when book/_offline/ is complete (use --force to refetch).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/book/_offline"
CACHE="$ROOT/.cache/npm-assets"

MATHJAX_VERSION="3"
HTML_MANAGER_VERSION="1.0.6"
REQUIREJS_VERSION="2"

complete() {
    [[ -f "$DEST/mathjax/tex-chtml.js" && -f "$DEST/html-manager/embed-amd.js" && -f "$DEST/require.js" ]]
}

if [[ "${1:-}" != "--force" ]] && complete; then
    echo "fetch_web_assets: book/_offline is complete, nothing to do"
    exit 0
fi

command -v npm >/dev/null 2>&1 || {
    echo "fetch_web_assets: npm not found; install Node.js (e.g. apt-get install -y npm)" >&2
    exit 1
}

mkdir -p "$CACHE"
cd "$CACHE"
[[ -f package.json ]] || echo '{"name": "inpainting-book-web-assets", "private": true}' > package.json
echo "fetch_web_assets: npm install into $CACHE"
npm install --no-audit --no-fund --loglevel=error \
    "mathjax@$MATHJAX_VERSION" \
    "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION" \
    "requirejs@$REQUIREJS_VERSION"

rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"
cp -R node_modules/mathjax/es5 "$DEST.tmp/mathjax"
cp -R node_modules/@jupyter-widgets/html-manager/dist "$DEST.tmp/html-manager"
cp node_modules/requirejs/require.js "$DEST.tmp/require.js"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"

complete || { echo "fetch_web_assets: expected files missing in $DEST" >&2; exit 1; }
echo "fetch_web_assets: wrote $(du -sh "$DEST" | cut -f1) to book/_offline"
