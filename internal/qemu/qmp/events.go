package qmp

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Event is an asynchronous message from QEMU.
type Event struct {
	Name      string
	Data      json.RawMessage
	Timestamp time.Time
}

// Decode unmarshals the event's data into v.
func (e Event) Decode(v any) error {
	if len(e.Data) == 0 {
		return fmt.Errorf("event %s carries no data", e.Name)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode event %s: %w", e.Name, err)
	}
	return nil
}

// Named is a Subscribe filter that keeps the events with one of names.
func Named(names ...string) func(Event) bool {
	return func(e Event) bool { return slices.Contains(names, e.Name) }
}

// Subscribe delivers, in order, every event read after it returns that
// filter accepts (all events when filter is nil). Subscribe before sending
// the command whose event you wait for: QEMU may emit it before the
// command's reply. Events queue without bound, so a slow reader never
// stalls the connection. The channel is closed after the connection ends
// (once the queued events are read) or when cancel is called. filter runs
// on the connection's reader, so it must be quick and must not call the
// Client.
func (c *Client) Subscribe(filter func(Event) bool) (<-chan Event, func()) {
	s := &subscription{
		filter: filter,
		ch:     make(chan Event),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	c.mu.Lock()
	if c.err != nil {
		s.ended = true
	} else {
		c.subs[s] = struct{}{}
	}
	c.mu.Unlock()
	go s.pump()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.subs, s)
			c.mu.Unlock()
			close(s.stop)
		})
	}
	return s.ch, cancel
}

func (c *Client) publish(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.subs {
		if s.filter == nil || s.filter(ev) {
			s.push(ev)
		}
	}
}

// subscription is an unbounded queue in front of an unbuffered channel.
type subscription struct {
	filter func(Event) bool
	ch     chan Event
	wake   chan struct{}
	stop   chan struct{}

	mu    sync.Mutex
	queue []Event
	ended bool // no more events will be queued
}

func (s *subscription) push(ev Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	s.poke()
}

func (s *subscription) finish() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.poke()
}

func (s *subscription) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscription) pump() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			select {
			case s.ch <- ev:
			case <-s.stop:
				return
			}
			continue
		}
		ended := s.ended
		s.mu.Unlock()
		if ended {
			return
		}
		select {
		case <-s.wake:
		case <-s.stop:
			return
		}
	}
}

// WaitEvent reads sub until an event called name arrives and returns it.
// It fails when ctx ends or the stream closes first.
func WaitEvent(ctx context.Context, sub <-chan Event, name string) (Event, error) {
	return waitFor(ctx, sub, "event "+name, func(e Event) bool { return e.Name == name })
}

// WaitFor reads sub until match accepts an event and returns that event.
func WaitFor(ctx context.Context, sub <-chan Event, match func(Event) bool) (Event, error) {
	return waitFor(ctx, sub, "a matching event", match)
}

// waitFor is WaitFor whose errors name what was awaited.
func waitFor(ctx context.Context, sub <-chan Event, what string, match func(Event) bool) (Event, error) {
	for {
		select {
		case ev, ok := <-sub:
			if !ok {
				return Event{}, fmt.Errorf("waiting for QEMU %s: event stream closed: %w", what, ErrDisconnected)
			}
			if match(ev) {
				return ev, nil
			}
		case <-ctx.Done():
			return Event{}, fmt.Errorf("waiting for QEMU %s: %w", what, ctx.Err())
		}
	}
}
