package qg

import "sync"

// wakeups lets an enqueue, or a notification from PostgreSQL, wake the idle
// workers of a queue at once instead of after their Interval. Each queue has
// a channel that is closed, waking every worker waiting on it, and replaced
// on each wake.
type wakeups struct {
	mu    sync.Mutex
	chans map[string]chan struct{}
}

// channel returns the channel the next wake of queue closes. A worker takes
// it before looking for work, so a wake that comes while it looks is not
// missed.
func (w *wakeups) channel(queue string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.chans == nil {
		w.chans = make(map[string]chan struct{})
	}
	ch, ok := w.chans[queue]
	if !ok {
		ch = make(chan struct{})
		w.chans[queue] = ch
	}
	return ch
}

// wake wakes the workers waiting on queue.
func (w *wakeups) wake(queue string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.chans[queue]; ok {
		close(ch)
		delete(w.chans, queue)
	}
}
