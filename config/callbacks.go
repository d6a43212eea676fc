package config

import "time"

// Defaults of the callbacks block.
const (
	// DefaultSlotLength is the length of one callback slot.
	DefaultSlotLength = 15 * time.Minute
	// DefaultCallsPerAgent is how many callbacks one agent takes per slot.
	DefaultCallsPerAgent = 2
	// DefaultCallbackLead is the least time between booking and the slot.
	DefaultCallbackLead = 10 * time.Minute
	// DefaultCallbackAttempts is how often a customer is called at most.
	DefaultCallbackAttempts = 3
	// DefaultCallbackRetry is the wait before calling a customer again.
	DefaultCallbackRetry = 10 * time.Minute
	// DefaultNoAgentRetry is the wait before trying again with no agent free.
	DefaultNoAgentRetry = 30 * time.Second
	// DefaultOverflowAfter is how long a callback waits for its team.
	DefaultOverflowAfter = 5 * time.Minute
	// DefaultAttemptTimeout bounds one dial attempt.
	DefaultAttemptTimeout = 3 * time.Minute
)

// Callbacks configures callback slots and the dialer that calls customers
// back. A slot's capacity is calls_per_agent times the team's agents.
type Callbacks struct {
	// SlotLength is the length of one slot (e.g. "15m").
	SlotLength time.Duration `yaml:"slot_length"`
	// CallsPerAgent is how many callbacks one agent takes per slot.
	CallsPerAgent int `yaml:"calls_per_agent"`
	// LeadTime is the least time between booking and the slot booked.
	LeadTime time.Duration `yaml:"lead_time"`
	// MaxAttempts is how many times a customer is called before the
	// callback fails.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryDelay is the wait before calling a customer again after busy, no
	// answer or a failure.
	RetryDelay time.Duration `yaml:"retry_delay"`
	// NoAgentRetry is the wait before trying again when no agent is free at
	// the slot; it spends no attempt.
	NoAgentRetry time.Duration `yaml:"no_agent_retry"`
	// OverflowAfter is how long a due callback waits for a free agent of its
	// team before the national pool's agents are rung for it.
	OverflowAfter time.Duration `yaml:"overflow_after"`
	// AttemptTimeout bounds one dial attempt (agent and customer ringing);
	// an attempt cut off by a crash is recovered after it.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	// CallerID is the number customers see when they are called back (the
	// hotline's, E.164); empty shows "teamline".
	CallerID string `yaml:"caller_id"`
}

// DefaultCallbacks returns the callbacks block's defaults.
func DefaultCallbacks() Callbacks {
	return Callbacks{
		SlotLength:     DefaultSlotLength,
		CallsPerAgent:  DefaultCallsPerAgent,
		LeadTime:       DefaultCallbackLead,
		MaxAttempts:    DefaultCallbackAttempts,
		RetryDelay:     DefaultCallbackRetry,
		NoAgentRetry:   DefaultNoAgentRetry,
		OverflowAfter:  DefaultOverflowAfter,
		AttemptTimeout: DefaultAttemptTimeout,
	}
}

func (v *validator) callbacks(c *Callbacks) {
	v.positive("callbacks.slot_length", c.SlotLength)
	if c.SlotLength > 0 && (c.SlotLength < 5*time.Second || (24*time.Hour)%c.SlotLength != 0) {
		v.add("callbacks.slot_length", "must be at least 5s and divide a day evenly (e.g. 10m, 15m, 30m)")
	}
	if c.CallsPerAgent < 1 {
		v.add("callbacks.calls_per_agent", "must be at least 1")
	}
	if c.LeadTime < 0 {
		v.add("callbacks.lead_time", "must not be negative")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 20 {
		v.add("callbacks.max_attempts", "must be between 1 and 20")
	}
	v.positive("callbacks.retry_delay", c.RetryDelay)
	v.positive("callbacks.no_agent_retry", c.NoAgentRetry)
	v.positive("callbacks.overflow_after", c.OverflowAfter)
	if c.AttemptTimeout < 10*time.Second {
		v.add("callbacks.attempt_timeout", "must be at least 10s (agent and customer must have time to answer)")
	}
}

// TeamCallbacks are a team's own callback slot settings; a zero field takes
// the global callbacks block's value.
type TeamCallbacks struct {
	// SlotLength is the length of one of the team's slots.
	SlotLength time.Duration `yaml:"slot_length"`
	// CallsPerAgent is how many callbacks one agent of the team takes per
	// slot.
	CallsPerAgent int `yaml:"calls_per_agent"`
	// LeadTime is the least time between booking and the slot booked.
	LeadTime time.Duration `yaml:"lead_time"`
}

// TeamSlots returns the effective callback slot settings of team t: its own
// where set, else the global ones.
func (c *Config) TeamSlots(t *Team) (slotLength time.Duration, callsPerAgent int, leadTime time.Duration) {
	slotLength, callsPerAgent, leadTime = c.Callbacks.SlotLength, c.Callbacks.CallsPerAgent, c.Callbacks.LeadTime
	if t.Callbacks.SlotLength > 0 {
		slotLength = t.Callbacks.SlotLength
	}
	if t.Callbacks.CallsPerAgent > 0 {
		callsPerAgent = t.Callbacks.CallsPerAgent
	}
	if t.Callbacks.LeadTime > 0 {
		leadTime = t.Callbacks.LeadTime
	}
	return slotLength, callsPerAgent, leadTime
}

// teamCallbacks checks a team's callback overrides; p is the team's field
// path ("teams[0]").
func (v *validator) teamCallbacks(p string, c TeamCallbacks) {
	if c.SlotLength < 0 || (c.SlotLength > 0 && (c.SlotLength < 5*time.Second || (24*time.Hour)%c.SlotLength != 0)) {
		v.add(p+".callbacks.slot_length", "must be at least 5s and divide a day evenly (e.g. 10m, 15m, 30m), or 0 to inherit")
	}
	if c.CallsPerAgent < 0 {
		v.add(p+".callbacks.calls_per_agent", "must be at least 1, or 0 to inherit")
	}
	if c.LeadTime < 0 {
		v.add(p+".callbacks.lead_time", "must not be negative")
	}
}
