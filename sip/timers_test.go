package sip

import (
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

// sipgo sets its timers in its own init; ours must come after it and stick,
// and the timers that retransmit or wait for an answer keep RFC values.
func TestTransactionLingerApplied(t *testing.T) {
	for name, got := range map[string]any{
		"Timer_D": gosip.Timer_D, "Timer_J": gosip.Timer_J, "Timer_L": gosip.Timer_L, "Timer_M": gosip.Timer_M,
	} {
		if got != TransactionLinger {
			t.Errorf("%s = %v, want %v", name, got, TransactionLinger)
		}
	}
	if gosip.Timer_B != 64*gosip.T1 || gosip.Timer_F != 64*gosip.T1 || gosip.Timer_H != 64*gosip.T1 {
		t.Errorf("answer-waiting timers changed: B %v F %v H %v", gosip.Timer_B, gosip.Timer_F, gosip.Timer_H)
	}
}
