package qg

import "sync"

// wakeups lets an enqueue, or a notification from PostgreSQL, wake the idle
// workers of a queue at once instead of after their Interval. Each queue has
// a channel that is closed, waking every worker waiting on it, and replaced
// on each wake.
type wakeups struct {
	mu    sync.Mutex
	chans map[string]chan struct{}
	// name is the table's name of a queue (dialect.queueName), so that
	// "" and 'default' are one queue on a Que 2.x table.
	name func(string) string
}

// channel returns the channel the next wake of queue closes. A worker takes
// it before looking for work, so a wake that comes while it looks is not
// missed.
func (w *wakeups) channel(queue string) <-chan struct{} {
	queue = w.name(queue)
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
	queue = w.name(queue)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.chans[queue]; ok {
		close(ch)
		delete(w.chans, queue)
	}
}
