#!/usr/bin/env bash
# Registers baresip (Debian package baresip-core) as a Teamline agent of the
# demo configuration and answers calls automatically, playing a 1000 Hz tone
# and recording what it hears under $DIR/rec.
#   scripts/demo-agent.sh [USER] [PASSWORD] [TEAMLINE_HOST:PORT]
set -euo pipefail
user=${1:-anna}
pass=${2:-anna-demo}
registrar=${3:-127.0.0.1:5060}
command -v baresip >/dev/null || { echo "baresip is missing: sudo apt-get install -y baresip-core" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/teamline-agent-$user.XXXX")
mkdir -p "$dir/rec"
cat >"$dir/config" <<CONF
poll_method		epoll
sip_listen		127.0.0.1:5080
net_interface		127.0.0.1
audio_source		ausine,1000
ausrc_srate		48000
ausrc_channels		2
rtp_ports		10000-10100
rtcp_mux		no
module_path		/usr/lib/baresip/modules
module			g711.so
module			ausine.so
module			sndfile.so
module_tmp		account.so
snd_path		$dir/rec
statmode_default	off
CONF
echo "<sip:$user@$registrar>;auth_user=$user;auth_pass=$pass;answermode=auto;audio_codecs=PCMU,PCMA;regint=300" >"$dir/accounts"
: >"$dir/contacts"
echo "baresip agent $user registering at $registrar (recordings in $dir/rec); Ctrl-C stops it" >&2
exec baresip -f "$dir" </dev/null
