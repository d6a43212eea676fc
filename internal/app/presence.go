package app

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/store"
)

// tickPresence lets time act on agent states every second: wrap-ups end,
// leases of vanished calls expire.
func tickPresence(ctx context.Context, p *roster.Presence) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.Tick(now)
		}
	}
}

// loadAffinity fills the affinity cache from the call records of the last
// days.
func loadAffinity(ctx context.Context, st *store.Store, a *roster.Affinity, days int) error {
	if days <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	contacts, err := st.LastContacts(ctx, time.Now().AddDate(0, 0, -days))
	if err != nil {
		return fmt.Errorf("load affinity: %w", err)
	}
	for _, c := range contacts {
		a.Record(c.CustomerID, c.AgentID, c.At)
	}
	return nil
}

// stateWriter writes agent state changes through to PostgreSQL in order,
// off the call path: presence hands changes over without blocking, and a
// full queue drops (and counts) rather than stall routing.
type stateWriter struct {
	st    *store.Store
	log   zerolog.Logger
	queue chan roster.AgentStateChange
}

const stateQueue = 4096

func newStateWriter(st *store.Store, log zerolog.Logger) *stateWriter {
	return &stateWriter{st: st, log: log, queue: make(chan roster.AgentStateChange, stateQueue)}
}

// enqueue is presence's OnChange: it must not block.
func (w *stateWriter) enqueue(c roster.AgentStateChange) {
	select {
	case w.queue <- c:
	default:
		w.log.Warn().Str("agent", c.AgentID).Str("state", c.To.Token()).Msg("agent state history queue full: change not stored")
	}
}

// stateBatch bounds how many changes go to the database in one write.
const stateBatch = 256

func (w *stateWriter) run(ctx context.Context) {
	batch := make([]store.AgentStateRecord, 0, stateBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-w.queue:
			batch = append(batch[:0], w.record(c))
			// Take what else is waiting: one round trip for a burst.
		drain:
			for len(batch) < stateBatch {
				select {
				case c := <-w.queue:
					batch = append(batch, w.record(c))
				default:
					break drain
				}
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := w.st.RecordAgentStates(wctx, batch)
			cancel()
			if err != nil {
				// History is for reports, not routing: log and go on.
				w.log.Warn().Err(err).Int("changes", len(batch)).Msg("agent state changes not stored")
			}
		}
	}
}

// record logs a change and turns it into a history row.
func (w *stateWriter) record(c roster.AgentStateChange) store.AgentStateRecord {
	w.log.Info().Str("agent", c.AgentID).Str("from", c.From.Token()).Str("to", c.To.Token()).
		Str("reason", c.Reason).Str("call", c.CallID).Msg("agent state")
	return store.AgentStateRecord{AgentID: c.AgentID, State: c.To.Token(), Reason: c.Reason, Since: c.At}
}
