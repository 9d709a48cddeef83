#!/usr/bin/env bash
# Refresh the workbench's vendored JavaScript from npm: prebuilt files only, no build step, nothing
# fetched from a CDN at run time. Each package below is downloaded with `npm pack` at the version
# pinned here, its built file and its licence are copied under api/web/static/vendor/<package>/, and
# api/web/static/vendor/VENDORED.md lists what is there (name, version, licence, file, sha256).
#
#   scripts/vendor-web.sh            the pinned versions
#   scripts/vendor-web.sh --latest   the newest versions on npm (then pin them here)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
vendor="$here/api/web/static/vendor"

# package      version  built file inside the package
packages=(
  "cytoscape       3.35.0  dist/cytoscape.min.js"
  "layout-base     2.0.1   layout-base.js"
  "cose-base       2.2.0   cose-base.js"
  "cytoscape-fcose 2.2.0   cytoscape-fcose.js"
)

command -v npm >/dev/null || { echo "vendor-web: npm is needed (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
  echo "# Vendored web assets"
  echo
  echo "Prebuilt files from npm, served by the workbench from \`/static/vendor/\`. Refresh with"
  echo "\`scripts/vendor-web.sh\` (versions pinned there). Each package's licence is beside its file."
  echo
  echo "| package | version | licence | file | sha256 |"
  echo "| --- | --- | --- | --- | --- |"
} > "$work/VENDORED.md"

for line in "${packages[@]}"; do
  read -r name version file <<<"$line"
  [ "${1:-}" = "--latest" ] && version=$(npm view "$name" version)
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  mkdir -p "$work/$name"
  tar -xzf "$work/$name-$version.tgz" -C "$work/$name"
  licence=$(cd "$work/$name/package" && node -p "require('./package.json').license")
  rm -rf "${vendor:?}/$name"
  mkdir -p "$vendor/$name"
  cp "$work/$name/package/$file" "$vendor/$name/"
  cp "$work/$name/package/LICENSE" "$vendor/$name/LICENSE"
  sum=$(sha256sum "$vendor/$name/$(basename "$file")" | cut -d' ' -f1)
  echo "| $name | $version | $licence | \`$name/$(basename "$file")\` | \`$sum\` |" >> "$work/VENDORED.md"
  echo "vendor-web: $name $version ($licence)" >&2
done
cp "$work/VENDORED.md" "$vendor/VENDORED.md"
