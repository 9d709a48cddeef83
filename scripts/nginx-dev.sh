#!/usr/bin/env bash
# The load balancer of the replica test (tests/api/test_replicas_nginx.py): Debian's nginx, run by the test
# itself on loopback with a configuration of its own (round-robin over the replicas); nothing is started here.
#
#   scripts/nginx-dev.sh ensure   install nginx-light if missing (apt-get; root or sudo; the package's own
#                                 service is not started where policy-rc.d says so), then print
#                                 TIANWANG_NGINX=<path> on stdout for the caller to export
set -euo pipefail

say() { echo "nginx-dev: $*" >&2; }

find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }

ensure() {
  if ! find_nginx >/dev/null; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || { say "not root and no sudo: apt-get install nginx-light yourself"; return 1; }
      sudo="sudo -n"
    fi
    say "installing nginx-light (apt-get)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nginx-light >&2 \
      || { $sudo apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nginx-light >&2; }
  fi
  local path
  path=$(find_nginx) || { say "nginx is still missing"; return 1; }
  echo "TIANWANG_NGINX=$path"
}

case "${1:-}" in
  ensure) ensure ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
