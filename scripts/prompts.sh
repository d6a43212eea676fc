#!/usr/bin/env bash
# prompts.sh - synthesise Teamline's prompt clips (make prompts).
#
#   scripts/prompts.sh [OUTDIR]
#
# Reads configs/prompts/texts.tsv (language<TAB>clip name<TAB>text) and writes
# OUTDIR/<language>/<clip name>.ul for every line: espeak-ng speaks the text,
# sox trims the silence at both ends, normalises the level and converts to
# 8 kHz mono raw mu-law (G.711 PCMU), the format media.LoadPrompts reads.
# OUTDIR defaults to configs/prompts. The clips are build output: they are not
# committed.
#
# Idempotent: a clip newer than both the manifest and this script is kept.
# Clips are made in parallel, one job per CPU.
#
# espeak-ng and sox come from Debian's packages. When one is missing and the
# script runs as root it installs them with apt-get; otherwise it prints the
# command and stops.
#
# Environment: PROMPT_VOICE_EN, PROMPT_VOICE_DE choose the espeak-ng voices
# (default en-gb and de); PROMPT_SPEED the words per minute (default 165).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest="$root/configs/prompts/texts.tsv"
script="$root/scripts/prompts.sh"
outdir="${1:-$root/configs/prompts}"

log() { printf 'prompts: %s\n' "$*" >&2; }

need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
if ((${#need[@]} > 0)); then
	cmd="apt-get install -y --no-install-recommends ${need[*]}"
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		log "installing ${need[*]}"
		DEBIAN_FRONTEND=noninteractive $cmd >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive $cmd >/dev/null; }
	else
		log "missing ${need[*]}; install with: sudo $cmd"
		exit 1
	fi
fi

[[ -r $manifest ]] || { log "no manifest at $manifest"; exit 1; }
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

# clip LANG NAME TEXT makes one clip. It runs in a child bash started by xargs,
# so everything it needs comes from the exported environment.
clip() {
	local lang="$1" name="$2" text="$3"
	local out="$PROMPTS_OUT/$lang/$name.ul"
	if [[ -s $out && $out -nt $PROMPTS_MANIFEST && $out -nt $PROMPTS_SCRIPT ]]; then
		return 0
	fi
	local voice
	case "$lang" in
	en) voice="${PROMPT_VOICE_EN:-en-gb}" ;;
	de) voice="${PROMPT_VOICE_DE:-de}" ;;
	*) voice="$lang" ;;
	esac
	local tmp
	tmp="$(mktemp -d "${TMPDIR:-/tmp}/teamline-prompt.XXXXXX")"
	# A failed clip must not leave a half-written file behind: write to the
	# temporary directory and move into place.
	if ! espeak-ng -v "$voice" -s "${PROMPT_SPEED:-165}" -w "$tmp/in.wav" "$text" ||
		! sox -V1 "$tmp/in.wav" -r 8000 -c 1 -t ul "$tmp/out.ul" \
			highpass 100 \
			silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse \
			norm -3 ||
		[[ ! -s $tmp/out.ul ]]; then
		printf 'prompts: %s/%s (%s) failed\n' "$lang" "$name" "$text" >&2
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$PROMPTS_OUT/$lang"
	mv -f "$tmp/out.ul" "$out"
	rm -rf "$tmp"
}
export -f clip
export PROMPTS_OUT="$outdir" PROMPTS_MANIFEST="$manifest" PROMPTS_SCRIPT="$script"

jobs="$(mktemp "${TMPDIR:-/tmp}/teamline-prompts.XXXXXX")"
trap 'rm -f "$jobs"' EXIT
count=0
declare -A langs=()
while IFS=$'\t' read -r lang name text rest || [[ -n ${lang:-} ]]; do
	[[ -z ${lang// /} || $lang == \#* ]] && continue
	if [[ -z ${name:-} || -z ${text:-} || -n ${rest:-} || ! $lang =~ ^[a-z]{2}$ || ! $name =~ ^[a-z0-9_]+$ ]]; then
		log "$manifest: bad line: $lang $name $text"
		exit 1
	fi
	langs[$lang]=1
	count=$((count + 1))
	printf '%s\0%s\0%s\0' "$lang" "$name" "$text"
done <"$manifest" >"$jobs"

for lang in "${!langs[@]}"; do
	mkdir -p "$outdir/$lang"
done
if ! xargs -0 -n 3 -P "$(nproc 2>/dev/null || echo 2)" bash -c 'clip "$@"' _ <"$jobs"; then
	log "some clips failed"
	exit 1
fi
bytes=$(cat "$outdir"/*/*.ul | wc -c)
log "$count clips in $outdir ($bytes bytes, $((bytes / 8000)) s of audio)"
