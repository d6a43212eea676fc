#!/usr/bin/env bash
# browser-deps.sh - what the browser phones and the browser tests need
# (make browser-deps).
#
#   scripts/browser-deps.sh [--pages]
#
# 1. Debian's chromium (the tests never download a browser) and node/npm:
#    installed with apt-get when missing and running as root; otherwise the
#    command is printed and the script stops.
# 2. `npm ci` from the committed package-lock.json into node_modules/
#    (jssip, sip.js, playwright-core, esbuild); skipped when node_modules is
#    newer than the lockfile.
# 3. esbuild bundles of JsSIP and SIP.js (neither ships a browser bundle on
#    npm) into web/phones/dist/, which `teamline serve` serves under
#    /phones/dist/. Build output: not committed.
#
# Idempotent: a second run with nothing changed does nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf 'browser-deps: %s\n' "$*" >&2; }

# --pages: only what the phone pages need (node, npm, the bundles), not the
# browser the tests drive (make run uses this).
pages_only=
[[ ${1:-} == --pages ]] && pages_only=1

need=()
[[ -n $pages_only ]] || command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if ((${#need[@]} > 0)); then
	cmd="apt-get install -y --no-install-recommends ${need[*]}"
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing ${need[*]}"
		DEBIAN_FRONTEND=noninteractive $cmd >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $cmd >/dev/null; }
	else
		log "missing ${need[*]}: run  sudo $cmd"
		exit 1
	fi
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	log "npm ci"
	npm ci --no-audit --no-fund --loglevel=error >&2
fi

dist=web/phones/dist
mkdir -p "$dist"
bundle() { # bundle ENTRY GLOBAL OUT
	if [[ -f $3 && $3 -nt package-lock.json && $3 -nt ${BASH_SOURCE[0]} ]]; then
		return
	fi
	log "bundling $1 -> $3"
	node_modules/.bin/esbuild "$1" --bundle --format=iife --global-name="$2" --minify \
		--log-level=warning --outfile="$3.tmp"
	mv "$3.tmp" "$3"
}
bundle node_modules/jssip/lib/JsSIP.js JsSIP "$dist/jssip.js"
bundle node_modules/sip.js/lib/index.js SIP "$dist/sipjs.js"
