package cfs

import (
	"fmt"
	"strings"
	"sync"
)

// EventKind says what happened to a path.
type EventKind uint8

// Event kinds.
const (
	// EventWritten: a file got new content, or a directory was created
	// (including by a rename to this path).
	EventWritten EventKind = iota + 1
	// EventDeleted: the path no longer exists (including by a rename away).
	EventDeleted
	// EventOverflow: events were lost, either because the watcher did not
	// keep up or because the tree was replaced by a snapshot. The watcher
	// should re-read what it cares about. Path is the watched prefix.
	EventOverflow
)

func (k EventKind) String() string {
	switch k {
	case EventWritten:
		return "written"
	case EventDeleted:
		return "deleted"
	case EventOverflow:
		return "overflow"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event tells a watcher that a path changed. Version is the global version
// of the transaction that changed it; for EventOverflow it is the version
// of the last change that was not delivered.
type Event struct {
	Path    string
	Kind    EventKind
	Version uint64
}

// DefaultWatchBuffer is the default of Config.WatchBuffer.
const DefaultWatchBuffer = 256

// hub fans events out to watchers. Publishing never blocks: each watcher
// has its own bounded queue and a goroutine that feeds its channel.
type hub struct {
	buffer int

	mu     sync.Mutex
	ws     map[*watcher]struct{}
	closed bool
}

func newHub(buffer int) *hub {
	if buffer <= 0 {
		buffer = DefaultWatchBuffer
	}
	return &hub{buffer: buffer, ws: map[*watcher]struct{}{}}
}

type watcher struct {
	prefix string
	out    chan Event
	wake   chan struct{} // capacity 1: "the queue or the overflow flag changed"
	done   chan struct{} // closed by cancel
	once   sync.Once

	mu        sync.Mutex
	queue     []Event
	max       int
	overflow  bool
	overflowV uint64
	drops     uint64 // events dropped so far; tells the pump about drops during a send
}

// watch registers a watcher. After close it returns a closed channel, so
// that a range over it ends at once.
func (h *hub) watch(prefix string) (<-chan Event, func()) {
	w := &watcher{
		prefix: strings.Trim(prefix, "/"),
		out:    make(chan Event),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		max:    h.buffer,
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(w.out)
		return w.out, func() {}
	}
	h.ws[w] = struct{}{}
	h.mu.Unlock()
	go w.pump()
	return w.out, func() { h.remove(w) }
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	delete(h.ws, w)
	h.mu.Unlock()
	w.stop()
}

// closeAll stops every watcher; their channels get closed.
func (h *hub) closeAll() {
	h.mu.Lock()
	ws := h.ws
	h.ws, h.closed = map[*watcher]struct{}{}, true
	h.mu.Unlock()
	for w := range ws {
		w.stop()
	}
}

// publish hands events to the matching watchers without blocking.
func (h *hub) publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.ws {
		w.enqueue(evs)
	}
}

// overflowAll tells every watcher to re-read, e.g. after a restore.
func (h *hub) overflowAll(version uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.ws {
		w.mu.Lock()
		w.markOverflow(version)
		w.mu.Unlock()
		w.poke()
	}
}

func (w *watcher) enqueue(evs []Event) {
	added := false
	w.mu.Lock()
	for _, e := range evs {
		if !underPrefix(e.Path, w.prefix) {
			continue
		}
		added = true
		// Once an event was dropped, later ones are dropped too until the
		// Overflow is delivered: a watcher must not see a change that
		// happened after a lost one and believe it is up to date.
		if w.overflow || len(w.queue) >= w.max {
			w.markOverflow(e.Version)
			continue
		}
		w.queue = append(w.queue, e)
	}
	w.mu.Unlock()
	if added {
		w.poke()
	}
}

// markOverflow is called with w.mu held.
func (w *watcher) markOverflow(v uint64) {
	w.overflow = true
	w.overflowV = max(w.overflowV, v)
	w.drops++
}

func (w *watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) stop() { w.once.Do(func() { close(w.done) }) }

// pump moves queued events to the channel. The Overflow marker is sent
// right after the events queued before the loss, i.e. as soon as the
// reader has made room for it, and the queue accepts events again only
// once it has been sent.
func (w *watcher) pump() {
	defer close(w.out)
	for {
		select {
		case <-w.wake:
		case <-w.done:
			return
		}
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, e := range batch {
			if !w.send(e) {
				return
			}
		}
		w.mu.Lock()
		if len(w.queue) > 0 {
			// More arrived while sending; go round again first.
			w.mu.Unlock()
			w.poke()
			continue
		}
		ov, v, drops := w.overflow, w.overflowV, w.drops
		w.mu.Unlock()
		if !ov {
			continue
		}
		if !w.send(Event{Path: w.prefix, Kind: EventOverflow, Version: v}) {
			return
		}
		w.mu.Lock()
		if w.drops == drops {
			w.overflow, w.overflowV = false, 0
		} else {
			// Something was dropped while the marker waited, possibly
			// after the reader took it and re-read; tell it once more.
			w.poke()
		}
		w.mu.Unlock()
	}
}

func (w *watcher) send(e Event) bool {
	select {
	case w.out <- e:
		return true
	case <-w.done:
		return false
	}
}
