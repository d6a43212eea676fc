package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseSIPpStats(t *testing.T) {
	t.Parallel()
	header := "StartTime;TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);Retransmissions(P);Retransmissions(C);"
	tests := []struct {
		name    string
		in      string
		want    sippStats
		wantErr bool
	}{
		{
			name: "last line wins",
			in:   header + "\nx;10;5;2;4;0;1;0;3;\nx;20;0;1;18;0;2;0;7;\n",
			want: sippStats{Created: 20, Successful: 18, Failed: 2, Retransmissions: 7},
		},
		{name: "header only", in: header + "\n", wantErr: true},
		{name: "missing column", in: "StartTime;TotalCallCreated\nx;3\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseSIPpStats(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRTTAndSummarise(t *testing.T) {
	t.Parallel()
	in := "Date_ms;response_time_ms;rtd_no\n12.001;0;1\n16.001;4;2\n24.001;8;1\n24.001;12;2\n"
	got := map[string][]float64{}
	if err := parseRTT(strings.NewReader(in), got); err != nil {
		t.Fatal(err)
	}
	if len(got["1"]) != 2 || len(got["2"]) != 2 {
		t.Fatalf("samples per timer = %v", got)
	}
	s := summarise(got["2"])
	if s.N != 2 || s.P50 != 4 || s.P99 != 12 || s.Max != 12 {
		t.Errorf("summary = %+v", s)
	}
	if (summarise(nil) != percentiles{}) {
		t.Error("summary of nothing is not zero")
	}
}

func TestSummarisePercentiles(t *testing.T) {
	t.Parallel()
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100 - i) // 100..1, unsorted
	}
	s := summarise(v)
	if s.P50 != 50 || s.P95 != 95 || s.P99 != 99 || s.Max != 100 {
		t.Errorf("summary = %+v, want p50 50, p95 95, p99 99, max 100", s)
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// Fields 3.. of proc(5); the command name holds a space and a ')'.
	line := "4242 (tl bench) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 12345 1000000 321 18446744073709551615"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{pgrp: 4242, utime: 250, stime: 50, threads: 7, rssPages: 321}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestParseGoBench(t *testing.T) {
	t.Parallel()
	out := `goos: linux
BenchmarkResolve-1          	 5000000	       231.5 ns/op	      64 B/op	       1 allocs/op
BenchmarkRelayPacket        	 1000000	      1042 ns/op	       0 B/op	       0 allocs/op
BenchmarkSub/case-a-1   	 10	 5.5 ns/op	 0 B/op	 0 allocs/op	 12.0 MB/s
PASS
ok  	github.com/teamline/teamline/roster	2.1s
`
	got := parseGoBench("roster", strings.NewReader(out))
	want := []microResult{
		{Package: "roster", Name: "BenchmarkResolve", N: 5000000, NsPerOp: 231.5, BytesPerOp: 64, AllocsPerOp: 1},
		{Package: "roster", Name: "BenchmarkRelayPacket", N: 1000000, NsPerOp: 1042},
		{Package: "roster", Name: "BenchmarkSub/case-a", N: 10, NsPerOp: 5.5},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseGoroutines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 1519\ngo_threads 6\n", 1519},
		{"go_threads 6\n", -1},
		{"go_goroutines NaNx\n", -1},
	}
	for _, tt := range tests {
		if got := parseGoroutines(strings.NewReader(tt.in)); got != tt.want {
			t.Errorf("parseGoroutines(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestApplyMediaLines(t *testing.T) {
	t.Parallel()
	a, b := &stream{port: 4000}, &stream{port: 4002}
	byPort := map[int]*stream{4000: a, 4002: b}
	n := applyLine("2026-11-25 12:00:00.000 MEDIA local=4000 remote=10002 m=m=audio 10002", byPort)
	if n != 1 || a.dst.Load() == nil || a.dst.Load().Port() != 10002 {
		t.Fatalf("stream not pointed: n=%d dst=%v", n, a.dst.Load())
	}
	if applyLine("MEDIA local=4000 remote=10004", byPort) != 0 {
		t.Error("a stream was pointed twice")
	}
	if applyLine("MEDIA local=5000 remote=10004", byPort) != 0 || applyLine("REGISTER", byPort) != 0 {
		t.Error("an unknown line pointed a stream")
	}
	if b.dst.Load() != nil {
		t.Error("b pointed by another stream's line")
	}
}

func TestTeamlineConfigRouting(t *testing.T) {
	t.Parallel()
	cfg := teamlineConfig(5060, 0, 8080, 3, "pw")
	for _, want := range []string{`prefixes: ["+493010002"]`, `username: "a00002"`, `digest_algorithms: ["MD5"]`, `default_team: "t00000"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s", want)
		}
	}
	if !strings.HasPrefix(callerNumber(2), prefixOf(2)) || callerNumber(2) == callerNumber(3) {
		t.Errorf("caller numbers %s, %s do not pick their team", callerNumber(2), callerNumber(3))
	}
}

func TestAgentsFor(t *testing.T) {
	t.Parallel()
	if got := agentsFor([]int{100, 2000}, []int{500}, time.Second); got != 6000 {
		t.Errorf("agentsFor = %d, want 6000 (2000 cps x 1.5 s x 2)", got)
	}
	if got := agentsFor([]int{10}, []int{1500}, time.Second); got != 1600 {
		t.Errorf("agentsFor = %d, want 1600 (media calls + 100)", got)
	}
}

func TestGeneratorLoopback(t *testing.T) {
	t.Parallel()
	c, err := baselineLatency(300 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// 200 streams at 50 packets/s for 0.3 s is about 3000 packets.
	if c.sent < 1500 || c.recv == 0 || c.recv > c.sent {
		t.Fatalf("sent %d, received %d", c.sent, c.recv)
	}
	if c.p99 <= 0 || c.p99 < c.p50 {
		t.Errorf("latency p50 %s p99 %s", c.p50, c.p99)
	}
}

// A step the agents' SIPp died in is marked, and the line that ends the
// table says why the climb stopped there.
func TestRateTableMarksDeadAgents(t *testing.T) {
	t.Parallel()
	r := &results{Teamline: &rateRun{Target: "teamline", MaxZeroFail: 1000, Steps: []rateStep{
		{Rate: 1000, Attempted: 8000, Succeeded: 8000},
		{Rate: 1500, Attempted: 12000, Succeeded: 11997, Failed: 3, AgentsDied: "signal: segmentation fault"},
	}, Error: "1500 calls/s: the agents' SIPp died during the step"}}
	var b strings.Builder
	r.printTable(&b)
	out := b.String()
	for _, want := range []string{"1500*", "stopped: 1500 calls/s: the agents' SIPp died", "zero failed calls: 1000 calls/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "*") != 1 {
		t.Errorf("only the dead step is marked:\n%s", out)
	}
}
