package qg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v4"
)

// ErrCancelUnavailable is wrapped by [Client.CancelJob] when the Client was
// made before qg_cancelled_jobs existed: run [Migrate], then make a new
// Client.
var ErrCancelUnavailable = errors.New("qg: cancelling jobs is not available: run qg.Migrate, then make a new Client")

// cancelChannel is the channel CancelJob notifies on, with the job's id.
const cancelChannel = "qg_cancel"

// cancelPoll is how often a Client with running Workers looks for cancel
// requests of the jobs it holds, in case a notification was missed. A
// variable for the test of the notification alone.
var cancelPoll = 500 * time.Millisecond

// CancelJob cancels job id. A job no session holds is removed from
// que_jobs at once and never runs. A job being worked is asked to stop:
// the qg Worker holding it, in whichever process, cancels its
// [Job.Context] within about a second (a notification, with polling as the
// fallback), rolls its work back and removes it instead of retrying it.
// running reports which of the two it was. A Ruby worker holding the job
// does not know of cancel requests and finishes it. A missing job wraps
// [ErrJobNotFound].
func (c *Client) CancelJob(ctx context.Context, id int64) (running bool, err error) {
	if c.isClosed() {
		return false, ErrClientClosed
	}
	if !c.cancellable {
		return false, fmt.Errorf("qg: cancel job %d: %w", id, ErrCancelUnavailable)
	}
	var free, deleted bool
	var notified int
	query, args := c.d.cancelJob(id)
	err = c.pool.QueryRowContext(ctx, query, c.portable(args)...).Scan(&free, &deleted, &notified)
	switch {
	case isNoRows(err):
		return false, fmt.Errorf("qg: cancel job %d: %w", id, ErrJobNotFound)
	case err != nil:
		return false, fmt.Errorf("qg: cancel job %d: %w", id, err)
	case free && !deleted:
		return false, fmt.Errorf("qg: cancel job %d: it changed meanwhile; try again: %w", id, ErrJobRunning)
	}
	return !free, nil
}

// cancelWatch runs a Client's watch for cancel requests while any of its
// Workers runs.
type cancelWatch struct {
	mu    sync.Mutex
	users int
	stop  context.CancelFunc
	done  chan struct{}
}

// watchCancels starts the Client's watch for cancel requests, unless it
// runs already, and returns the function that ends this use of it: the
// last one stops the watch and waits for it.
func (c *Client) watchCancels() (release func()) {
	if !c.cancellable {
		return func() {}
	}
	w := &c.cancels
	w.mu.Lock()
	defer w.mu.Unlock()
	w.users++
	if w.users == 1 {
		ctx, stop := context.WithCancel(c.ctx)
		w.stop, w.done = stop, make(chan struct{})
		go c.runCancelWatch(ctx, w.done)
	}
	return sync.OnceFunc(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.users--
		if w.users == 0 {
			w.stop()
			<-w.done
		}
	})
}

// runCancelWatch cancels the held jobs that notifications or polls name,
// until ctx ends.
func (c *Client) runCancelWatch(ctx context.Context, done chan struct{}) {
	defer close(done)
	notified := make(chan int64, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.listenCancels(ctx, notified)
	}()
	defer wg.Wait()
	tick := time.NewTicker(cancelPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-notified:
			c.cancelHeld([]int64{id})
		case <-tick.C:
			c.pollCancels(ctx)
		}
	}
}

// pollCancels cancels the held jobs that have a cancel request.
func (c *Client) pollCancels(ctx context.Context) {
	ids := c.heldIDs()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, cancelPoll)
	defer cancel()
	rows, err := c.pool.QueryContext(ctx, `/* qg:cancel_requests */ SELECT job_id FROM qg_cancelled_jobs
WHERE job_id = ANY ($1::bigint[])`, c.portable([]any{ids})...)
	if err != nil {
		return // the pool may be busy; the next poll or a notification will do
	}
	defer rows.Close()
	var cancelled []int64
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			cancelled = append(cancelled, id)
		}
	}
	c.cancelHeld(cancelled)
}

// listenCancels sends the job ids notified on cancelChannel to ids, over a
// connection of its own outside the pool, reconnecting after errors, until
// ctx ends.
func (c *Client) listenCancels(ctx context.Context, ids chan<- int64) {
	if c.otherDriver != "" {
		return // no LISTEN connection on another driver: polling alone
	}
	for ctx.Err() == nil {
		err := c.listenCancelsOnce(ctx, ids)
		if ctx.Err() != nil {
			return
		}
		logProblem(nil, slog.LevelWarn, "qg: listen for cancel requests (polling goes on)", slog.Any("error", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// listenCancelsOnce is one connection of listenCancels.
func (c *Client) listenCancelsOnce(ctx context.Context, ids chan<- int64) error {
	config, err := c.serverConfig(ctx)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+cancelChannel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			select {
			case ids <- id:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// cancelHeld asks the held jobs among ids to stop.
func (c *Client) cancelHeld(ids []int64) {
	if len(ids) == 0 {
		return
	}
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for j := range c.locked {
		if want[j.ID] && j.cancelRequested.CompareAndSwap(false, true) && j.cancel != nil {
			j.cancel()
		}
	}
}

// removeCancelled finishes a job whose cancel was requested: its work is
// rolled back already; the job is removed, not retried, and its request
// dropped.
func (j *Job) removeCancelled() error {
	if err := j.Delete(); err != nil {
		return err
	}
	ctx, cancel := finishContext()
	defer cancel()
	_, err := j.client.pool.ExecContext(ctx, `DELETE FROM qg_cancelled_jobs WHERE job_id = $1`, j.ID)
	return err
}
