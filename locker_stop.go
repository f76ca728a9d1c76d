package qg

// How a batch locker stops: it locks nothing more, releases the jobs it
// locked but did not hand out, and, when a shutdown gives up waiting, ends
// the sessions of the jobs still running.

func (l *locker) isStopping() bool {
	select {
	case <-l.stopping:
		return true
	default:
		return false
	}
}

// releaseQueued releases, untouched, the jobs locked but not started, and
// closes the workers' channel once (nothing is dispatched after stopping).
func (l *locker) releaseQueued() {
	for {
		select {
		case j, ok := <-l.jobs:
			if !ok {
				return
			}
			j.Done()
		default:
			close(l.jobs)
			return
		}
	}
}

// stop makes the locker lock nothing more; run returns once every job it
// handed out is Done and finished.
func (l *locker) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.stopping:
	default:
		close(l.stopping)
	}
}

// halt stops the locker on an error that makes working on useless (a
// read-only session): it locks nothing more, releases what it holds and
// returns once its running jobs are done.
func (l *locker) halt(err error) {
	if l.haltErr.set(err, l.logger, "qg: batch locker stopped", l.queue) {
		l.stop()
	}
}

// halted returns the error the locker stopped with, if any.
func (l *locker) halted() error { return l.haltErr.get() }

// escalate gives up on running jobs: their contexts are cancelled, and the
// locker's session and the sessions of their transactions are ended, so
// every lock goes and the jobs run again elsewhere, unchanged.
func (l *locker) escalate() {
	l.mu.Lock()
	var ended []session
	if l.sess.pid != 0 {
		ended = append(ended, l.sess)
	}
	for j := range l.running {
		if !j.claim() {
			continue // released: its Tx's session may serve others now
		}
		if tx := j.txSession.Load(); tx != nil {
			ended = append(ended, *tx)
		}
	}
	l.mu.Unlock()
	l.c.terminate(ended)
}
