package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-io/berth/api"
	"github.com/berth-io/berth/internal/store"
)

// EventHub tails the events outbox (written by the store in the transaction of each change)
// and fans each event out to the subscribers of its account. One hub runs per API server:
// one query per poll, whatever the number of subscribers, so the fan-out costs a channel
// send per subscriber of the event's account. Subscribers that fall behind are dropped and
// resume from the outbox with their last event id.
type EventHub struct {
	log       store.EventLog
	logger    *slog.Logger
	poll      time.Duration
	retention time.Duration
	gapWait   time.Duration

	mu        sync.Mutex
	subs      map[int64]map[*EventSub]struct{}
	last      int64 // every event up to last has been delivered
	started   bool
	gapSince  time.Time
	ready     chan struct{}
	readyOnce sync.Once
}

// EventSub is one subscription: events arrive on C, in seq order, until it is closed (the
// hub dropped a slow subscriber, or Unsubscribe).
type EventSub struct {
	C       chan api.Event
	From    int64 // the hub had delivered every event up to From when the subscription began
	account int64
	closed  bool
}

// Event stream settings.
const (
	eventBuffer     = 512
	eventBatch      = 1000
	eventsRetention = 24 * time.Hour
	// PostgreSQL hands out seq values at insert and commits them in any order: a missing seq
	// may still commit, so the hub waits this long for it before skipping it (a rolled-back
	// transaction leaves a hole forever).
	eventGapWait = 2 * time.Second
)

func newEventHub(st store.Store, log *slog.Logger) *EventHub {
	el, _ := st.(store.EventLog)
	return &EventHub{log: el, logger: log, poll: 250 * time.Millisecond, retention: eventsRetention, gapWait: eventGapWait,
		subs: map[int64]map[*EventSub]struct{}{}, ready: make(chan struct{})}
}

// Events returns the service's event hub.
func (s *Service) Events() *EventHub { return s.events }

// Run tails the outbox until ctx ends, and prunes events older than the retention.
func (h *EventHub) Run(ctx context.Context) {
	if h.log == nil {
		return
	}
	_, newest, err := h.log.EventBounds(ctx)
	for err != nil && ctx.Err() == nil {
		h.logger.Error("events", "err", err)
		time.Sleep(time.Second)
		_, newest, err = h.log.EventBounds(ctx)
	}
	h.mu.Lock()
	h.last, h.started = newest, true
	h.mu.Unlock()
	h.readyOnce.Do(func() { close(h.ready) })
	t := time.NewTicker(h.poll)
	defer t.Stop()
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	for {
		if err := h.tail(ctx); err != nil && ctx.Err() == nil {
			h.logger.Error("events", "err", err)
		}
		select {
		case <-ctx.Done():
			h.CloseAll()
			return
		case <-t.C:
		case <-prune.C:
			if _, err := h.log.PruneEvents(ctx, time.Now().Add(-h.retention)); err != nil && ctx.Err() == nil {
				h.logger.Error("prune events", "err", err)
			}
		}
	}
}

// tail delivers the new events, in seq order, holding back after a missing seq for a while.
func (h *EventHub) tail(ctx context.Context) error {
	for {
		h.mu.Lock()
		after := h.last
		h.mu.Unlock()
		list, err := h.log.Events(ctx, store.AllAccounts, after, 0, eventBatch)
		if err != nil || len(list) == 0 {
			return err
		}
		h.mu.Lock()
		n := 0
		for _, e := range list {
			if e.Seq != h.last+1 {
				if h.gapSince.IsZero() {
					h.gapSince = time.Now()
				}
				if time.Since(h.gapSince) < h.gapWait {
					break
				}
			}
			h.gapSince = time.Time{}
			h.last = e.Seq
			n++
			for sub := range h.subs[e.AccountID] {
				select {
				case sub.C <- e.Event:
				default: // too slow: drop it; it resumes from the outbox
					h.drop(sub)
				}
			}
		}
		h.mu.Unlock()
		if n < len(list) || len(list) < eventBatch {
			return nil
		}
	}
}

// Subscribe starts a subscription to the events of c's account. It waits for the hub to
// start (or ctx to end).
func (h *EventHub) Subscribe(ctx context.Context, c *Caller) (*EventSub, error) {
	if h.log == nil {
		return nil, api.Errorf(api.Unavailable, api.ObjUnknown, "this store keeps no events")
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	sub := &EventSub{C: make(chan api.Event, eventBuffer), From: h.last, account: c.AccountID}
	if h.subs[c.AccountID] == nil {
		h.subs[c.AccountID] = map[*EventSub]struct{}{}
	}
	h.subs[c.AccountID][sub] = struct{}{}
	return sub, nil
}

// Unsubscribe ends a subscription.
func (h *EventHub) Unsubscribe(sub *EventSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(sub)
}

func (h *EventHub) drop(sub *EventSub) {
	if sub.closed {
		return
	}
	sub.closed = true
	close(sub.C)
	delete(h.subs[sub.account], sub)
	if len(h.subs[sub.account]) == 0 {
		delete(h.subs, sub.account)
	}
}

// CloseAll ends every subscription (at shutdown: streams end, clients reconnect elsewhere).
func (h *EventHub) CloseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subs {
		for sub := range m {
			h.drop(sub)
		}
	}
}

// Backlog returns the events of c's account with after < seq <= upto, at most limit, for a
// client resuming with Last-Event-ID. gone reports that events after `after` were already
// pruned: the client must reload instead.
func (h *EventHub) Backlog(ctx context.Context, c *Caller, after, upto int64, limit int) (list []api.Event, gone bool, err error) {
	if h.log == nil {
		return nil, false, api.Errorf(api.Unavailable, api.ObjUnknown, "this store keeps no events")
	}
	oldest, _, err := h.log.EventBounds(ctx)
	if err != nil {
		return nil, false, err
	}
	if oldest > after+1 {
		return nil, true, nil
	}
	rows, err := h.log.Events(ctx, c.AccountID, after, upto, limit)
	if err != nil {
		return nil, false, err
	}
	for _, e := range rows {
		list = append(list, e.Event)
	}
	return list, false, nil
}
