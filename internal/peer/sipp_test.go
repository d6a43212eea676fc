package peer

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func requireSIPp(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (Debian package sip-tester); CI installs it")
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantExit(t *testing.T, ctx context.Context, p *SIPpProcess, want int) {
	t.Helper()
	code, err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(p.scenario), err)
	}
	if code != want {
		t.Errorf("%s exited %d, want %d", filepath.Base(p.scenario), code, want)
	}
}

func wantLog(t *testing.T, ctx context.Context, p *SIPpProcess, substr string) {
	t.Helper()
	if _, err := p.WaitLog(ctx, substr); err != nil {
		t.Errorf("%s: %v", filepath.Base(p.scenario), err)
	}
}

// TestSIPpCallWithAudio runs customer_call.xml against agent_answer.xml with
// no Teamline in between: each side learns the other's RTP address from the
// log and two RTPEndpoints exchange a tone both ways.
func TestSIPpCallWithAudio(t *testing.T) {
	t.Parallel()
	requireSIPp(t)
	tests := []struct {
		name          string
		transport     string
		agentKeys     map[string]string
		customerKeys  map[string]string
		agentLog      string
		customerLog   string
		customerToneH float64
		agentToneH    float64
	}{
		{
			name:         "customer hangs up",
			agentKeys:    map[string]string{"ring_ms": "50"},
			customerKeys: map[string]string{"call_ms": "1500"},
			agentLog:     "HANGUP_RECEIVED", customerLog: "HANGUP_SENT",
			customerToneH: 1000, agentToneH: 440,
		},
		{
			name:         "agent hangs up",
			agentKeys:    map[string]string{"ring_ms": "50", "hangup": "us", "bye_ms": "1500"},
			customerKeys: map[string]string{"hangup": "them"},
			agentLog:     "HANGUP_SENT", customerLog: "HANGUP_RECEIVED",
			customerToneH: 600, agentToneH: 1200,
		},
		{
			name:         "over tcp",
			transport:    "t1",
			agentKeys:    map[string]string{"ring_ms": "50"},
			customerKeys: map[string]string{"call_ms": "1500"},
			agentLog:     "HANGUP_RECEIVED", customerLog: "HANGUP_SENT",
			customerToneH: 800, agentToneH: 300,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 20*time.Second)
			agentRTP, customerRTP := NewRTPEndpoint(t), NewRTPEndpoint(t)

			tc.agentKeys["rtp_port"] = strconv.Itoa(agentRTP.Port())
			agent := StartSIPp(t, SIPpOptions{Scenario: "agent_answer.xml", Transport: tc.transport, Keys: tc.agentKeys, Timeout: 15 * time.Second})
			tc.customerKeys["rtp_port"] = strconv.Itoa(customerRTP.Port())
			tc.customerKeys["headers"] = HeaderLines("P-Asserted-Identity: <sip:+4989123456@127.0.0.1>")
			customer := StartSIPp(t, SIPpOptions{
				Scenario: "customer_call.xml", Transport: tc.transport, Remote: agent.Addr(),
				Keys: tc.customerKeys, Timeout: 15 * time.Second,
			})

			toAgent, err := customer.RemoteRTP(ctx)
			if err != nil {
				t.Fatal(err)
			}
			toCustomer, err := agent.RemoteRTP(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if toAgent != agentRTP.Addr() || toCustomer != customerRTP.Addr() {
				t.Fatalf("logged RTP addresses %s and %s, want %s and %s", toAgent, toCustomer, agentRTP.Addr(), customerRTP.Addr())
			}
			customerRTP.StartSending(ctx, toAgent, PayloadPCMU, tc.customerToneH)
			agentRTP.StartSending(ctx, toCustomer, PayloadPCMU, tc.agentToneH)
			for _, e := range []*RTPEndpoint{agentRTP, customerRTP} {
				if err := e.WaitPackets(ctx, 25); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct {
				who  string
				e    *RTPEndpoint
				tone float64
			}{{"agent hears", agentRTP, tc.customerToneH}, {"customer hears", customerRTP, tc.agentToneH}} {
				st := c.e.Received()
				if !st.NonSilent || math.Abs(st.FreqHz-c.tone) > 15 {
					t.Errorf("%s: rms %.3f at %.0f Hz, want a %.0f Hz tone", c.who, st.RMS, st.FreqHz, c.tone)
				}
			}
			wantLog(t, ctx, agent, "INVITE_RECEIVED call_id=")
			wantLog(t, ctx, agent, "ruri=sip:hotline@"+agent.Addr())
			wantLog(t, ctx, agent, "ANSWERED")
			wantLog(t, ctx, customer, "ANSWERED")
			wantLog(t, ctx, agent, tc.agentLog)
			wantLog(t, ctx, customer, tc.customerLog)
			wantExit(t, ctx, customer, ExitAllCallsOK)
			wantExit(t, ctx, agent, ExitAllCallsOK)
			if !strings.Contains(agent.Messages(), "P-Asserted-Identity: <sip:+4989123456@127.0.0.1>") {
				t.Error("the agent did not receive the extra header")
			}
		})
	}
}

// TestSIPpCancel checks customer_cancel.xml against agent_ring.xml, and
// agent_answer.xml's CANCEL branch, which must count as a success only when
// allow_cancel=1.
func TestSIPpCancel(t *testing.T) {
	t.Parallel()
	requireSIPp(t)
	tests := []struct {
		name      string
		scenario  string
		keys      map[string]string
		wantAgent int
	}{
		{"agent_ring", "agent_ring.xml", nil, ExitAllCallsOK},
		{"agent_answer allows cancel", "agent_answer.xml", map[string]string{"rtp_port": "9", "ring_ms": "10000"}, ExitAllCallsOK},
		{"agent_answer refuses cancel", "agent_answer.xml", map[string]string{"rtp_port": "9", "ring_ms": "10000", "allow_cancel": "0"}, ExitSomeCallsFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 20*time.Second)
			agent := StartSIPp(t, SIPpOptions{Scenario: tc.scenario, Keys: tc.keys, Timeout: 15 * time.Second})
			customer := StartSIPp(t, SIPpOptions{
				Scenario: "customer_cancel.xml", Remote: agent.Addr(), Timeout: 15 * time.Second,
				Keys: map[string]string{"rtp_port": "9", "cancel_ms": "100"},
			})
			wantLog(t, ctx, customer, "TERMINATED")
			wantLog(t, ctx, agent, "CANCELLED")
			wantExit(t, ctx, customer, ExitAllCallsOK)
			wantExit(t, ctx, agent, tc.wantAgent)
		})
	}
}

// TestSIPpExpect checks that customer_expect.xml succeeds exactly when the
// final status is the expected one.
func TestSIPpExpect(t *testing.T) {
	t.Parallel()
	requireSIPp(t)
	tests := []struct {
		name         string
		uas          string
		uasKeys      map[string]string
		expect       string
		wantCustomer int
		wantUAS      int
	}{
		{"480 after ringing", "uas_reject.xml", map[string]string{"status": "480"}, "480", ExitAllCallsOK, ExitAllCallsOK},
		{"403 at once", "uas_reject.xml", map[string]string{"status": "403", "ring": "0"}, "403", ExitAllCallsOK, ExitAllCallsOK},
		{"403 but 480 expected", "uas_reject.xml", map[string]string{"status": "403"}, "480", ExitSomeCallsFailed, ExitAllCallsOK},
		{"answered but 480 expected", "agent_answer.xml", map[string]string{"rtp_port": "9", "ring_ms": "10"}, "480", ExitSomeCallsFailed, ExitAllCallsOK},
		{"unsupported status in uas_reject", "uas_reject.xml", map[string]string{"status": "499"}, "500", ExitAllCallsOK, ExitSomeCallsFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 20*time.Second)
			uas := StartSIPp(t, SIPpOptions{Scenario: tc.uas, Keys: tc.uasKeys, Timeout: 15 * time.Second})
			customer := StartSIPp(t, SIPpOptions{
				Scenario: "customer_expect.xml", Remote: uas.Addr(), Timeout: 15 * time.Second,
				Keys: map[string]string{"expect": tc.expect},
			})
			wantLog(t, ctx, customer, "FINAL status=")
			wantExit(t, ctx, customer, tc.wantCustomer)
			wantExit(t, ctx, uas, tc.wantUAS)
		})
	}
}

// TestSIPpRegister checks register.xml against registrar.xml: success, a
// refused password, an unregistration, and SIPp's MD5-only digest.
func TestSIPpRegister(t *testing.T) {
	t.Parallel()
	requireSIPp(t)
	tests := []struct {
		name       string
		firstAlgo  string
		password   string
		expires    string
		expect     string
		wantClient int
		wantLog    string
	}{
		{"registered", "MD5", "s3cret", "3600", "200", ExitAllCallsOK, "BINDINGS"},
		{"unregistered", "MD5", "s3cret", "0", "200", ExitAllCallsOK, "REGISTER_RESULT status=200"},
		{"wrong password refused", "MD5", "wrong", "3600", "403", ExitAllCallsOK, "REGISTER_RESULT status=403"},
		{"wrong password but 200 expected", "MD5", "wrong", "3600", "200", ExitSomeCallsFailed, "REGISTER_RESULT status=403"},
		// SIPp 3.6 reads the first challenge only and knows only MD5.
		{"sha-256 first is fatal for sipp", "SHA-256", "s3cret", "3600", "200", ExitFatal, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 20*time.Second)
			agentPort := FreeUDPPort(t) // where the agent's phone would listen
			registrar := StartSIPp(t, SIPpOptions{
				Scenario: "registrar.xml", Timeout: 15 * time.Second,
				Keys: map[string]string{"user": "alice", "password": "s3cret", "first_algo": tc.firstAlgo, "second_algo": "MD5"},
			})
			client := StartSIPp(t, SIPpOptions{
				Scenario: "register.xml", Remote: registrar.Addr(), Timeout: 15 * time.Second,
				Keys: map[string]string{
					"user": "alice", "password": tc.password, "contact_port": strconv.Itoa(agentPort),
					"expires": tc.expires, "expect": tc.expect,
				},
			})
			wantExit(t, ctx, client, tc.wantClient)
			if tc.wantLog != "" {
				wantLog(t, ctx, client, tc.wantLog)
			}
			if tc.expect == "200" && tc.wantClient == ExitAllCallsOK {
				line, err := registrar.WaitLog(ctx, "AUTH_OK")
				if err != nil {
					t.Fatal(err)
				}
				if want := "@127.0.0.1:" + strconv.Itoa(agentPort); !strings.Contains(line, want) {
					t.Errorf("registered contact %q does not point at %s", line, want)
				}
			}
		})
	}
}

// TestSIPpTimeoutIsBounded checks that a scenario waiting for a message that
// never comes ends at SIPp's -timeout, as a failure, and that WaitLog gives
// up when SIPp exits.
func TestSIPpTimeoutIsBounded(t *testing.T) {
	t.Parallel()
	requireSIPp(t)
	ctx := testContext(t, 10*time.Second)
	agent := StartSIPp(t, SIPpOptions{Scenario: "agent_ring.xml", Timeout: time.Second})
	if _, err := agent.WaitLog(ctx, "CANCELLED"); !errors.Is(err, ErrLogLineNotFound) {
		t.Errorf("WaitLog = %v, want ErrLogLineNotFound", err)
	}
	wantExit(t, ctx, agent, ExitFatal)
}

// TestStartSIPpRefusesBadKeys checks that a misspelt key fails before SIPp
// starts.
func TestStartSIPpRefusesBadKeys(t *testing.T) {
	t.Parallel()
	_, err := newSIPp(t, SIPpOptions{Scenario: "agent_answer.xml", Keys: map[string]string{"rtp_port": "1", "ringms": "5"}})
	if err == nil || !strings.Contains(err.Error(), "ringms") {
		t.Fatalf("newSIPp with a misspelt key: err = %v", err)
	}
	p, err := newSIPp(t, SIPpOptions{Scenario: "agent_answer.xml", Keys: map[string]string{"rtp_port": "4000", "password": "x"}})
	if err == nil {
		t.Fatalf("newSIPp accepted an undeclared key: %q", p.args)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	args := redactArgs([]string{"-key", "password", "s3cret", "-key", "user", "alice"})
	if strings.Contains(strings.Join(args, " "), "s3cret") || !strings.Contains(strings.Join(args, " "), "alice") {
		t.Errorf("redactArgs = %q", args)
	}
	msg := "REGISTER sip:x SIP/2.0\r\nAuthorization: Digest username=\"alice\",response=\"abc\"\r\nproxy-authorization: Digest x\r\nTo: <sip:alice@x>\r\n"
	got := redactAuth(msg)
	if strings.Contains(got, "response=") || strings.Contains(got, "Digest x") || !strings.Contains(got, "To: <sip:alice@x>") {
		t.Errorf("redactAuth = %q", got)
	}
}

func TestParseRemoteRTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line    string
		want    netip.AddrPort
		wantErr bool
	}{
		{"REMOTE_RTP ip=127.0.0.1 port=4000", netip.MustParseAddrPort("127.0.0.1:4000"), false},
		{"REMOTE_RTP ip=::1 port=5004", netip.MustParseAddrPort("[::1]:5004"), false},
		{"REMOTE_RTP ip= port=", netip.AddrPort{}, true},
		{"REMOTE_RTP ip=127.0.0.1 port=70000", netip.AddrPort{}, true},
		{"REMOTE_RTP ip=teamline.invalid port=4000", netip.AddrPort{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			t.Parallel()
			got, err := parseRemoteRTP(tc.line)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseRemoteRTP(%q) = %v, %v; want %v, error %v", tc.line, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestResolveKeys(t *testing.T) {
	t.Parallel()
	declared := scenarioKeys([]byte("<!--\n  @key rtp_port    port\n  @key ring_ms=200  ring\n  @key headers=     extra\n-->"))
	tests := []struct {
		name    string
		given   map[string]string
		want    map[string]string
		wantErr string
	}{
		{"defaults", map[string]string{"rtp_port": "4000"}, map[string]string{"rtp_port": "4000", "ring_ms": "200", "headers": ""}, ""},
		{"override", map[string]string{"rtp_port": "1", "ring_ms": "5"}, map[string]string{"rtp_port": "1", "ring_ms": "5", "headers": ""}, ""},
		{"missing required", nil, nil, `key "rtp_port" is required`},
		{"typo", map[string]string{"rtp_port": "1", "ringms": "5"}, nil, `key "ringms" is not declared`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolveKeys("x.xml", declared, tc.given)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("key %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// sippKeywords are SIPp's own [keywords] (message.cpp, SimpleKeywords).
var sippKeywords = map[string]bool{
	"remote_ip": true, "remote_host": true, "remote_port": true, "transport": true, "local_ip": true,
	"local_ip_type": true, "local_port": true, "server_ip": true, "media_ip": true, "media_port": true,
	"media_ip_type": true, "auto_media_port": true, "call_number": true, "dynamic_id": true, "call_id": true,
	"cseq": true, "pid": true, "service": true, "branch": true, "msg_index": true, "next_url": true, "len": true,
	"peer_tag_param": true, "last_cseq_number": true, "last_message": true, "routes": true, "clock_tick": true,
	"users": true, "userid": true, "timestamp": true, "date": true, "sipp_version": true,
}

// TestScenariosDeclareTheirKeys checks every scenario in testdata/sipp: it
// has a header comment, and every [key] it uses is declared with @key (and
// every declared key is used), so StartSIPp's defaults are the whole truth.
func TestScenariosDeclareTheirKeys(t *testing.T) {
	t.Parallel()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "testdata", "sipp", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	used := regexp.MustCompile(`\[([a-z][a-z0-9_]*)\]`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			xml, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^<\?xml[^>]*>\s*<!--`).Match(xml) {
				t.Error("no header comment after the XML declaration")
			}
			declared := map[string]bool{}
			for _, k := range scenarioKeys(xml) {
				declared[k.name] = true
			}
			seen := map[string]bool{}
			for _, m := range used.FindAllSubmatch(xml, -1) {
				k := string(m[1])
				if sippKeywords[k] {
					continue
				}
				seen[k] = true
				if !declared[k] {
					t.Errorf("uses [%s] without an @key line", k)
				}
			}
			for k := range declared {
				if !seen[k] {
					t.Errorf("declares @key %s but never uses it", k)
				}
			}
		})
	}
}
