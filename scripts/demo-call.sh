#!/usr/bin/env bash
# Places one customer call into Teamline through the demo trunk with SIPp
# (Debian package sip-tester): the caller talks for CALL_MS and hangs up.
#   scripts/demo-call.sh [CALLER_NUMBER] [TEAMLINE_HOST:PORT]
set -euo pipefail
caller=${1:-+4930123456}
target=${2:-127.0.0.1:5060}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v sipp >/dev/null || { echo "sipp is missing: sudo apt-get install -y sip-tester" >&2; exit 1; }
exec sipp -sf "$here/testdata/sipp/customer_call.xml" -i 127.0.0.1 -p 5070 -m 1 -nostdin \
  -key rtp_port 40000 -key to_user hotline -key caller "$caller" -key caller_name "Demo caller" \
  -key headers "" -key call_ms "${CALL_MS:-5000}" -key hangup us \
  -timeout 60s -timeout_error -trace_err "$target"
