#!/usr/bin/env bash
# Vendor GraphiQL + React UMD bundles into assets/graphiql/ so the server can
# serve the GraphiQL IDE on closed networks (no CDN access at runtime).
#
# Reproducible: versions are pinned below and each tarball's integrity is
# checked by `npm pack` against the registry metadata. Re-running the script
# with the same pins produces byte-identical files (see SHA256SUMS).
#
# Usage: scripts/vendor-graphiql.sh            # (re)vendor into assets/graphiql
#        scripts/vendor-graphiql.sh --check    # verify files against SHA256SUMS
#
# Requires: npm (registry access), tar, sha256sum.
set -euo pipefail

GRAPHIQL_VERSION="3.9.0"   # last 3.x: still ships graphiql.min.js/.css UMD bundle
REACT_VERSION="18.3.1"     # 18.x still ships umd/*.production.min.js
REACT_DOM_VERSION="18.3.1"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/assets/graphiql"

if [[ "${1:-}" == "--check" ]]; then
  cd "$DEST" && exec sha256sum --check --strict SHA256SUMS
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "Fetching graphiql@$GRAPHIQL_VERSION react@$REACT_VERSION react-dom@$REACT_DOM_VERSION ..."
(
  cd "$WORK"
  npm pack --silent --pack-destination "$WORK" \
    "graphiql@$GRAPHIQL_VERSION" \
    "react@$REACT_VERSION" \
    "react-dom@$REACT_DOM_VERSION" >/dev/null
  for pkg in graphiql react react-dom; do
    mkdir -p "$WORK/$pkg"
    tar -xzf "$WORK"/"$pkg"-[0-9]*.tgz -C "$WORK/$pkg" --strip-components=1
  done
)

# Check the tarballs hold what we expect before touching DEST.
need=(
  "graphiql/graphiql.min.js"
  "graphiql/graphiql.min.css"
  "graphiql/LICENSE"
  "react/umd/react.production.min.js"
  "react/LICENSE"
  "react-dom/umd/react-dom.production.min.js"
  "react-dom/LICENSE"
)
for f in "${need[@]}"; do
  [[ -f "$WORK/$f" ]] || { echo "missing $f in npm package" >&2; exit 1; }
done

mkdir -p "$DEST/LICENSES"
# Remove previously vendored bundles/licenses (index.html and README are ours, kept).
rm -f "$DEST"/*.min.js "$DEST"/*.min.css "$DEST"/LICENSES/* "$DEST/SHA256SUMS"

install -m 0644 "$WORK/graphiql/graphiql.min.js"                "$DEST/graphiql.min.js"
install -m 0644 "$WORK/graphiql/graphiql.min.css"               "$DEST/graphiql.min.css"
install -m 0644 "$WORK/react/umd/react.production.min.js"       "$DEST/react.production.min.js"
install -m 0644 "$WORK/react-dom/umd/react-dom.production.min.js" "$DEST/react-dom.production.min.js"
install -m 0644 "$WORK/graphiql/LICENSE"   "$DEST/LICENSES/graphiql-$GRAPHIQL_VERSION.LICENSE"
install -m 0644 "$WORK/react/LICENSE"      "$DEST/LICENSES/react-$REACT_VERSION.LICENSE"
install -m 0644 "$WORK/react-dom/LICENSE"  "$DEST/LICENSES/react-dom-$REACT_DOM_VERSION.LICENSE"

cat > "$DEST/VERSIONS" <<EOF
graphiql $GRAPHIQL_VERSION
react $REACT_VERSION
react-dom $REACT_DOM_VERSION
EOF

# Checksums of everything vendored (not index.html, which is hand-written).
(
  cd "$DEST"
  LC_ALL=C sha256sum VERSIONS *.min.js *.min.css LICENSES/* > SHA256SUMS
)

echo "Vendored into $DEST:"
(cd "$DEST" && ls -l *.min.js *.min.css LICENSES/ && cat SHA256SUMS)
