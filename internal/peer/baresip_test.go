package peer

import (
	"bufio"
	"errors"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func requireBaresip(t *testing.T) {
	t.Helper()
	requireSIPp(t) // the tests use a SIPp registrar and caller
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Skip("baresip is not installed (Debian package baresip-core); CI installs it")
	}
}

// startRegistrar runs registrar.xml for user alice.
func startRegistrar(t *testing.T, firstAlgo, secondAlgo string) *SIPpProcess {
	t.Helper()
	return StartSIPp(t, SIPpOptions{
		Scenario: "registrar.xml", Calls: -1, Timeout: 30 * time.Second,
		Keys: map[string]string{"user": "alice", "password": "s3cret", "first_algo": firstAlgo, "second_algo": secondAlgo},
	})
}

func TestBaresipRegisters(t *testing.T) {
	t.Parallel()
	requireBaresip(t)
	tests := []struct {
		name       string
		firstAlgo  string
		secondAlgo string
		password   string
		wantErr    error
	}{
		{"md5", "MD5", "MD5", "s3cret", nil},
		{"wrong password", "MD5", "MD5", "wrong", ErrRegisterFailed},
		// baresip 1.0 (libre) gives up when any challenge is not MD5.
		{"sha-256 offered too", "MD5", "SHA-256", "s3cret", ErrRegisterFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 20*time.Second)
			registrar := startRegistrar(t, tc.firstAlgo, tc.secondAlgo)
			b := StartBaresip(t, BaresipOptions{Username: "alice", Password: tc.password, Registrar: registrar.Addr()})
			err := b.WaitRegistered(ctx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("WaitRegistered = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			line, err := registrar.WaitLog(ctx, "AUTH_OK")
			if err != nil {
				t.Fatal(err)
			}
			if want := "@127.0.0.1:" + strconv.Itoa(b.SIPPort()); !strings.Contains(line, want) {
				t.Errorf("registered %q, want a contact at %s", line, want)
			}
			// ctrl_tcp answers commands.
			if _, err := b.Command(ctx, "reginfo", ""); err != nil {
				t.Errorf("reginfo: %v", err)
			}
			b.Stop()
			if _, err := registrar.WaitLog(ctx, "expires=0"); err != nil {
				t.Errorf("baresip did not unregister on quit: %v", err)
			}
		})
	}
}

// TestBaresipAnswersWithAudio calls baresip directly from customer_call.xml:
// it auto-answers, sends its tone to the caller's RTP endpoint, and records
// the caller's tone. Either the caller or baresip (Hangup) ends the call.
func TestBaresipAnswersWithAudio(t *testing.T) {
	t.Parallel()
	requireBaresip(t)
	tests := []struct {
		name          string
		callerKeys    map[string]string
		baresipHangup bool
		callerLog     string
	}{
		{"caller hangs up", map[string]string{"call_ms": "2000"}, false, "HANGUP_SENT"},
		{"baresip hangs up", map[string]string{"hangup": "them"}, true, "HANGUP_RECEIVED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 30*time.Second)
			b := StartBaresip(t, BaresipOptions{Username: "alice", Password: "s3cret", Registrar: "127.0.0.1:9", Unregistered: true, Tone: 1000})
			rtpEnd := NewRTPEndpoint(t)
			tc.callerKeys["rtp_port"] = strconv.Itoa(rtpEnd.Port())
			tc.callerKeys["to_user"] = "alice"
			caller := StartSIPp(t, SIPpOptions{Scenario: "customer_call.xml", Remote: b.SIPAddr(), Timeout: 20 * time.Second, Keys: tc.callerKeys})
			toBaresip, err := caller.RemoteRTP(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if first, last := b.RTPPorts(); int(toBaresip.Port()) < first || int(toBaresip.Port()) > last {
				t.Errorf("baresip answered with RTP port %d outside its range %d-%d", toBaresip.Port(), first, last)
			}
			rtpEnd.StartSending(ctx, toBaresip, PayloadPCMU, 440)
			if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
				t.Fatal(err)
			}
			if err := rtpEnd.WaitPackets(ctx, 75); err != nil {
				t.Fatal(err)
			}
			if tc.baresipHangup {
				if err := b.Hangup(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
				t.Fatal(err)
			}
			wantLog(t, ctx, caller, tc.callerLog)
			wantExit(t, ctx, caller, ExitAllCallsOK)
			rtpEnd.StopSending()

			st := rtpEnd.Received()
			if !st.NonSilent || math.Abs(st.FreqHz-1000) > 20 {
				t.Errorf("caller heard rms %.3f at %.0f Hz, want baresip's 1000 Hz tone", st.RMS, st.FreqHz)
			}
			b.Stop() // sndfile completes the files when the call ends; stop to be sure
			dec, enc := b.Recordings()
			if dec == "" || enc == "" {
				t.Fatalf("no recordings in %s/rec", b.Dir())
			}
			for _, c := range []struct {
				path string
				freq float64
			}{{dec, 440}, {enc, 1000}} {
				rms, freq, err := WAVStats(c.path)
				if err != nil {
					t.Fatal(err)
				}
				if rms < SilenceRMS || math.Abs(freq-c.freq) > 25 {
					t.Errorf("%s: rms %.3f at %.0f Hz, want a %.0f Hz tone", c.path, rms, freq, c.freq)
				}
			}
		})
	}
}

func TestNetstring(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{`11:{"event":1},`, `{"event":1}`, false},
		{`0:,`, ``, false},
		{`3:abc;`, ``, true},
		{`x:abc,`, ``, true},
		{`99999999:`, ``, true},
		{`5:abc`, ``, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := readNetstring(bufio.NewReader(strings.NewReader(tc.in)))
			if (err != nil) != tc.wantErr || string(got) != tc.want {
				t.Errorf("readNetstring(%q) = %q, %v", tc.in, got, err)
			}
		})
	}
	var sb strings.Builder
	if err := writeNetstring(&sb, []byte(`{"command":"quit"}`)); err != nil || sb.String() != `18:{"command":"quit"},` {
		t.Errorf("writeNetstring = %q, %v", sb.String(), err)
	}
}
