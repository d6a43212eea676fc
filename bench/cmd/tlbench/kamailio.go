package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// kamailioChildren is the number of UDP worker processes. On one pinned
// core more workers add no capacity, and two workers reading one socket
// forward a 180 and the 200 behind it in either order: SIPp then fails the
// call on the late 180. One worker keeps order, as a single Teamline does.
const kamailioChildren = 1

// kamailioConfig is the reference: a plain stateful proxy that
// record-routes and relays every new INVITE to the agents' SIPp, as small
// as Kamailio 5.6 allows.
func kamailioConfig(port, uasPort int) string {
	return fmt.Sprintf(`#!KAMAILIO
# Written by tlbench: the reference stateful proxy (t_relay, record_route).
debug=1
log_stderror=yes
memdbg=5
memlog=5
children=%[3]d
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:%[1]d
alias=127.0.0.1:%[1]d

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"

modparam("rr", "enable_full_lr", 1)

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				t_relay();
			}
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	t_check_trans();
	if (is_method("INVITE")) {
		record_route();
	}
	$du = "sip:127.0.0.1:%[2]d";
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}
`, port, uasPort, kamailioChildren)
}

// startKamailio writes the config and starts Kamailio in the foreground on
// the SUT core.
func (e *env) startKamailio() (*proc, int, error) {
	port, err := freePort(false)
	if err != nil {
		return nil, 0, err
	}
	dir := filepath.Join(e.work, "kamailio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("kamailio dir: %w", err)
	}
	cfg := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfg, []byte(kamailioConfig(port, e.uasPort)), 0o644); err != nil {
		return nil, 0, fmt.Errorf("write kamailio config: %w", err)
	}
	p, err := startProc("kamailio", e.pin, sutCore, nil, dir, filepath.Join(dir, "kamailio.log"),
		e.kamailio, "-f", cfg, "-DD", "-E", "-m", "512", "-M", "16", "-Y", dir)
	if err != nil {
		return nil, 0, err
	}
	if err := waitUDPBound(port, p, 10*time.Second); err != nil {
		p.stop(2 * time.Second)
		return nil, 0, fmt.Errorf("kamailio did not start: %w\n%s", err, p.logTail(2000))
	}
	// The workers fork after the socket is bound; give them a moment.
	time.Sleep(500 * time.Millisecond)
	if p.exited() {
		return nil, 0, fmt.Errorf("kamailio exited: %s", p.logTail(2000))
	}
	e.logf("kamailio serving on udp 127.0.0.1:%s (%d workers)", strconv.Itoa(port), kamailioChildren)
	return p, port, nil
}
