package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// proc is a worker process the supervisor started.
type proc struct {
	token   string
	cmd     *exec.Cmd
	stdin   io.WriteCloser // closing it tells the worker to stop
	started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // how it exited; read after done

	killed   bool      // by a chaos kill, or because it did not stop in time
	killedAt time.Time // when
	stopping bool      // asked to stop at the end of the run
	stuck    bool      // did not stop within stopGrace
	reaped   bool      // an unexpected exit, already counted
}

// pid is the process's id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startWorker starts a worker process: this executable with -worker.
func (s *supervisor) startWorker() (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	s.nextID++
	p := &proc{token: fmt.Sprintf("w%d-%08x", s.nextID, rand.Uint32()), done: make(chan struct{})}
	args := []string{"-worker", "-token", p.token, "-database-url", s.url,
		"-concurrency", strconv.Itoa(s.cfg.concurrency), "-timeout", s.cfg.timeout.String()}
	if s.cfg.batch > 0 {
		args = append(args, "-batch", strconv.Itoa(s.cfg.batch))
	}
	if s.cfg.fault != "" {
		args = append(args, "-fault", s.cfg.fault)
	}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	p.started = time.Now()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return p, nil
}

// liveProcs lists the worker processes neither killed nor exited.
func (s *supervisor) liveProcs() []*proc {
	var live []*proc
	for _, p := range s.procs {
		if !p.killed && !p.exited() {
			live = append(live, p)
		}
	}
	return live
}

// liveTokens lists the tokens of the live worker processes.
func (s *supervisor) liveTokens() []string {
	var tokens []string
	for _, p := range s.liveProcs() {
		tokens = append(tokens, p.token)
	}
	return tokens
}

// replaceDead counts and replaces the worker processes that exited without
// being killed or asked to stop: a crash, which fails the run.
func (s *supervisor) replaceDead() error {
	for _, p := range s.procs {
		if p.killed || p.stopping || p.reaped || !p.exited() {
			continue
		}
		p.reaped, p.killedAt = true, time.Now()
		s.chaos.unexpectedExits++
		s.log.Printf("worker pid %d exited unexpectedly: %v", p.pid(), p.err)
		if err := s.recordKilled(context.Background(), p.token); err != nil {
			s.log.Printf("%v", err)
		}
		if _, err := s.startWorker(); err != nil {
			return err
		}
	}
	return nil
}

// recordKilled records token as dead in chaos_killed, so the claims its
// runs left behind are not taken for overlaps.
func (s *supervisor) recordKilled(ctx context.Context, token string) error {
	err := retry(ctx, reconnectAfter, func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx, `INSERT INTO chaos_killed (token) VALUES ($1) ON CONFLICT DO NOTHING`, token)
		return err
	})
	if err != nil {
		return fmt.Errorf("record kill of worker %s: %w", token, err)
	}
	return nil
}

// kill9 records p as dead, then kills it with SIGKILL and waits for it.
func (s *supervisor) kill9(ctx context.Context, p *proc) error {
	if err := s.recordKilled(ctx, p.token); err != nil {
		return err
	}
	p.killed, p.killedAt = true, time.Now()
	if err := p.cmd.Process.Kill(); err != nil && !p.exited() {
		return fmt.Errorf("kill worker pid %d: %w", p.pid(), err)
	}
	<-p.done
	return nil
}

// forceKill kills p at the end of the run, when it did not stop in time.
func (s *supervisor) forceKill(p *proc) {
	ctx, cancel := context.WithTimeout(context.Background(), reconnectAfter)
	defer cancel()
	if err := s.kill9(ctx, p); err != nil {
		s.log.Printf("%v", err)
		p.killed = true
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopWorkers asks every live worker to stop (SIGTERM and the end of its
// stdin): each shuts its qg.WorkerPool down, letting running jobs finish.
// Those still running after stopGrace are killed and counted as stuck.
func (s *supervisor) stopWorkers() {
	live := s.liveProcs()
	for _, p := range live {
		p.stopping = true
		_ = p.stdin.Close()
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(stopGrace)
	for _, p := range live {
		if waitUntil(p, deadline) {
			s.checkStopped(p)
			continue
		}
		p.stuck = true
		s.log.Printf("worker pid %d did not stop within %s of SIGTERM: killing it", p.pid(), stopGrace)
		s.forceKill(p)
	}
}

// waitUntil waits for p to exit until deadline; it reports whether p exited.
func waitUntil(p *proc, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return p.exited()
	}
}

// checkStopped counts a worker that failed while stopping as an unexpected
// exit.
func (s *supervisor) checkStopped(p *proc) {
	if p.err != nil {
		s.chaos.unexpectedExits++
		s.log.Printf("worker pid %d stopped with an error: %v", p.pid(), p.err)
	}
}
