#!/usr/bin/env bash
# The browser the workbench's tests drive: Debian's chromium (Playwright's own browser download does not
# work on these machines) and a font with Chinese glyphs for its screenshots.
#
#   scripts/browser-dev.sh ensure   install them if missing (apt-get; root or sudo), then print
#                                   TIANWANG_CHROMIUM=<path> on stdout for the caller to export
set -euo pipefail

say() { echo "browser-dev: $*" >&2; }

ensure() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  fc-list 2>/dev/null | grep -qiE "wqy|noto sans cjk|droid sans fallback" || missing+=(fonts-wqy-microhei)
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || { say "not root and no sudo: apt-get install ${missing[*]} yourself"; return 1; }
      sudo="sudo -n"
    fi
    say "installing ${missing[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >&2 \
      || { $sudo apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >&2; }
  fi
  local path
  path=$(command -v chromium) || { say "chromium is still missing"; return 1; }
  echo "TIANWANG_CHROMIUM=$path"
}

case "${1:-}" in
  ensure) ensure ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
