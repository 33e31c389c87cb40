package qmp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Event is an asynchronous QMP event, e.g. DEVICE_DELETED or SHUTDOWN.
type Event struct {
	// Name is the event name ("event" on the wire).
	Name string
	// Data is the raw "data" object, nil when the event has none.
	Data json.RawMessage
	// Time is QEMU's timestamp of the event.
	Time time.Time
}

// Decode unmarshals the event's data into v.
func (e Event) Decode(v any) error {
	if e.Data == nil {
		return fmt.Errorf("decode event %s: no data", e.Name)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode event %s: %w", e.Name, err)
	}
	return nil
}

// DataString returns the string member key of the event's data, or "" when absent or
// not a string.
func (e Event) DataString(key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(e.Data, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}

// subscription is one event consumer.
type subscription struct {
	filter func(Event) bool
	ch     chan Event
}

// Subscribe returns a channel of the events for which filter returns true (every
// event when filter is nil), and a function that ends the subscription and closes the
// channel. filter runs on the reader goroutine: it must be fast and must not call the
// Client. The channel is buffered (WithEventBuffer); when it is full, events are
// dropped for this subscriber and counted in Stats.DroppedEvents. The channel is also
// closed when the connection ends, after the events already buffered.
func (c *Client) Subscribe(filter func(Event) bool) (<-chan Event, func()) {
	s := &subscription{filter: filter, ch: make(chan Event, c.opts.eventBuffer)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	return s.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[s]; ok {
			delete(c.subs, s)
			close(s.ch)
		}
	}
}

// dispatch delivers ev to every matching subscriber without blocking.
func (c *Client) dispatch(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.subs {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			c.droppedEvents.Add(1)
		}
	}
}

// Expectation is a subscription to one kind of event, made before the action that
// causes it so that the event cannot be missed.
type Expectation struct {
	c      *Client
	name   string
	ch     <-chan Event
	cancel func()
}

// Expect subscribes to the events called name for which match returns true (every
// such event when match is nil). Call Wait to receive the first one, or Cancel.
func (c *Client) Expect(name string, match func(Event) bool) *Expectation {
	ch, cancel := c.Subscribe(func(ev Event) bool {
		return ev.Name == name && (match == nil || match(ev))
	})
	return &Expectation{c: c, name: name, ch: ch, cancel: cancel}
}

// Wait returns the first expected event, or an error when ctx (or the client's default
// timeout) expires or the connection ends first. It cancels the expectation.
func (x *Expectation) Wait(ctx context.Context) (Event, error) {
	defer x.cancel()
	ctx, cancel := x.c.withTimeout(ctx)
	defer cancel()
	select {
	case ev, ok := <-x.ch:
		if !ok {
			if err := x.c.Err(); err != nil {
				return Event{}, fmt.Errorf("wait for event %s: %w", x.name, err)
			}
			return Event{}, fmt.Errorf("wait for event %s: expectation cancelled", x.name)
		}
		return ev, nil
	case <-ctx.Done():
		return Event{}, fmt.Errorf("wait for event %s: %w", x.name, ctx.Err())
	}
}

// Cancel ends the expectation; it is safe to call more than once and after Wait.
func (x *Expectation) Cancel() { x.cancel() }

// WaitEvent waits for the next event called name for which match returns true (any
// such event when match is nil). Only events emitted after the call are seen: to wait
// for the effect of a command, use Expect before sending it.
func (c *Client) WaitEvent(ctx context.Context, name string, match func(Event) bool) (Event, error) {
	return c.Expect(name, match).Wait(ctx)
}
