package task

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hearth-virt/hearth/api"

	"github.com/hearth-virt/hearth/internal/atomicfile"
)

// DefaultMaxArchive is the default of Config.MaxArchive.
const DefaultMaxArchive = 50000

var (
	// ErrNotFound is wrapped by the errors for a well-formed UPID that names
	// no task this runner knows (never started here, or rotated out of the
	// archive), or a task of another node.
	ErrNotFound = errors.New("no such task")
	// ErrClosed is returned by Start after Shutdown began.
	ErrClosed = errors.New("task runner is shut down")
)

// Config configures a Runner. Dir and Node are required.
type Config struct {
	// Dir holds the index, the active file and the task logs, e.g.
	// <state-dir>/tasks. It is created if missing. One daemon owns it.
	Dir string
	// Node is the name of this node, put into every UPID.
	Node string
	// PID goes into every UPID; default os.Getpid().
	PID uint32
	// PStart is the base of the pstart field of UPIDs; default the start
	// time of this process in clock ticks since boot (see Runner.Start).
	PStart uint64
	// Logger receives what the daemon's operator should see: panics in
	// tasks, failed writes, recovered tasks. Default slog.Default().
	Logger *slog.Logger
	// Now tells the time; default time.Now. Tests pin it.
	Now func() time.Time
	// MaxArchive bounds the archive index: when it holds more finished
	// tasks than this, the oldest are dropped (with their logs) so that the
	// newest MaxArchive/2 remain. Rotating by half rather than by one keeps
	// the cost of rewriting the index rare. Default DefaultMaxArchive.
	MaxArchive int
}

// Runner starts tasks, keeps their logs and remembers how they ended. Its
// methods are safe for concurrent use; tasks run in parallel without waiting
// on each other.
type Runner struct {
	dir        string
	node       string
	pid        uint32
	pstart     uint64
	logger     *slog.Logger
	now        func() time.Time
	maxArchive int

	// indexMu serializes appends to and rotations of the index file, so
	// that the in-memory archive is in the same order as the file.
	indexMu sync.Mutex
	// activeMu serializes rewrites of the active file. Each rewrite takes
	// its snapshot of running tasks after acquiring it, so the last write
	// always reflects the latest state.
	activeMu sync.Mutex

	// unfinished counts the tasks whose record is not finished yet, so that
	// Shutdown also waits for a task that is past Run but still writing.
	// Add happens under mu while not closing, so it never races with the
	// Wait in Shutdown.
	unfinished sync.WaitGroup

	mu       sync.RWMutex
	seq      uint64 // next pstart offset
	closing  bool
	running  map[string]*job   // by canonical UPID
	archive  []record          // finished tasks, in index order (oldest end first)
	archived map[string]record // the same, by canonical UPID
}

// job is a running task.
type job struct {
	rec    record
	path   string // of the log
	log    *taskLog
	cancel context.CancelFunc
	done   chan struct{} // closed once the task's record is finished

	mu     sync.Mutex
	reason string // exit status if Run fails after a stop or shutdown
	ended  bool   // finish has been claimed
}

// Open prepares a runner on cfg.Dir. Tasks that a previous daemon process
// recorded as running and never finished (it crashed or was killed) are
// finished now: if their log already has its final line that status is kept,
// otherwise they end with ExitDaemonLost, which is also appended to their
// log; either way they move to the archive.
func Open(cfg Config) (*Runner, error) {
	if cfg.Dir == "" {
		return nil, errors.New("task runner: no directory configured")
	}
	if !validNode(cfg.Node) {
		return nil, fmt.Errorf("task runner: node name %q is not a host name label", cfg.Node)
	}
	r := &Runner{
		dir: cfg.Dir, node: cfg.Node, pid: cfg.PID, pstart: cfg.PStart,
		logger: cfg.Logger, now: cfg.Now, maxArchive: cfg.MaxArchive,
		running:  make(map[string]*job),
		archived: make(map[string]record),
	}
	if r.pid == 0 {
		r.pid = uint32(os.Getpid())
	}
	if r.pstart == 0 {
		t, err := processStartTicks()
		if err != nil {
			return nil, fmt.Errorf("task runner: %w", err)
		}
		r.pstart = t
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxArchive <= 0 {
		r.maxArchive = DefaultMaxArchive
	}
	for i := range 16 {
		if err := os.MkdirAll(filepath.Join(r.dir, fmt.Sprintf("%X", i)), 0o750); err != nil {
			return nil, fmt.Errorf("task runner: %w", err)
		}
	}
	atomicfile.RemoveTemps(r.dir)
	if err := r.loadArchive(); err != nil {
		return nil, err
	}
	if err := r.recoverLost(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Runner) indexPath() string { return filepath.Join(r.dir, indexName) }

func (r *Runner) loadArchive() error {
	path := r.indexPath()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		// Create it now so that later appends never need a directory sync.
		if err := atomicfile.Write(filepath.Join(r.dir, indexName), nil, 0o640); err != nil {
			return fmt.Errorf("task runner: creating index: %w", err)
		}
	}
	recs, bad, err := loadIndex(path)
	if err != nil {
		return fmt.Errorf("task runner: reading index: %w", err)
	}
	if bad > 0 {
		r.logger.Warn("task index has unreadable lines; skipped them", "path", path, "lines", bad)
	}
	dropped := r.addArchived(recs)
	if dropped != nil {
		r.rewriteIndex(dropped)
	}
	return nil
}

// recoverLost finishes the tasks the active file lists as running.
func (r *Runner) recoverLost() error {
	ids, bad, err := loadActive(filepath.Join(r.dir, activeName))
	if err != nil {
		return fmt.Errorf("task runner: reading active tasks: %w", err)
	}
	if bad > 0 {
		r.logger.Warn("active task file has unreadable lines; skipped them", "lines", bad)
	}
	var recs []record
	seen := make(map[string]bool)
	for _, u := range ids {
		id := u.String()
		if _, ok := r.archived[id]; ok || seen[id] {
			continue // finished, but the daemon stopped before updating the active file
		}
		seen[id] = true
		rec := r.recoverTask(u, id)
		recs = append(recs, rec)
		r.logger.Warn("task left running by a previous daemon process closed",
			"upid", id, "exitstatus", rec.exit)
	}
	if len(recs) > 0 {
		var b strings.Builder
		for _, rec := range recs {
			b.WriteString(formatIndexLine(rec))
		}
		r.indexMu.Lock()
		err := appendSync(r.indexPath(), []byte(b.String()))
		dropped := r.addArchived(recs)
		if dropped != nil {
			r.rewriteIndex(dropped)
		}
		r.indexMu.Unlock()
		if err != nil {
			return fmt.Errorf("task runner: recording recovered tasks: %w", err)
		}
	}
	if err := atomicfile.Write(filepath.Join(r.dir, activeName), nil, 0o640); err != nil {
		return fmt.Errorf("task runner: clearing active tasks: %w", err)
	}
	return nil
}

// recoverTask decides how a task lost by a previous daemon ended. Its end
// time is when its log was last written, the last sign of life we have.
func (r *Runner) recoverTask(u UPID, id string) record {
	rec := record{upid: u, id: id, endTime: r.now().Unix(), exit: ExitDaemonLost}
	path := logPath(r.dir, u, id)
	if fi, err := os.Stat(path); err == nil {
		rec.endTime = fi.ModTime().Unix()
	}
	rec.endTime = max(rec.endTime, u.StartTime)
	last, clean, err := lastLine(path)
	if err == nil {
		if exit, ok := exitFromFinalLine(last); ok {
			rec.exit = exit // it did finish; only the index append was lost
			return rec
		}
	}
	final := finalLine(rec.exit) + "\n"
	if err == nil && !clean {
		final = "\n" + final // end the torn line first
	}
	if err := appendSync(path, []byte(final)); err != nil {
		r.logger.Error("cannot end log of lost task", "upid", id, "err", err)
	}
	return rec
}

// addArchived appends finished tasks to the in-memory archive. If that
// makes it longer than maxArchive it keeps the newest half and returns the
// dropped records, whose removal from disk is up to the caller
// (rewriteIndex). Callers other than Open hold indexMu.
func (r *Runner) addArchived(recs []record) (dropped []record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if _, dup := r.archived[rec.id]; dup {
			continue
		}
		r.archive = append(r.archive, rec)
		r.archived[rec.id] = rec
		delete(r.running, rec.id)
	}
	if len(r.archive) <= r.maxArchive {
		return nil
	}
	keep := max(r.maxArchive/2, 1)
	cut := len(r.archive) - keep
	dropped = slices.Clone(r.archive[:cut])
	// Copy, so that the dropped records' memory is released.
	r.archive = slices.Clone(r.archive[cut:])
	for _, rec := range dropped {
		delete(r.archived, rec.id)
	}
	return dropped
}

// rewriteIndex writes the index anew from memory after a rotation, then
// deletes the logs of the dropped tasks. Errors are logged: the archive in
// memory is right, and the next rotation tries again. Callers other than
// Open hold indexMu.
func (r *Runner) rewriteIndex(dropped []record) {
	r.mu.RLock()
	var b strings.Builder
	for _, rec := range r.archive {
		b.WriteString(formatIndexLine(rec))
	}
	r.mu.RUnlock()
	if err := atomicfile.Write(filepath.Join(r.dir, indexName), []byte(b.String()), 0o640); err != nil {
		r.logger.Error("cannot rotate task index", "err", err)
		return
	}
	for _, rec := range dropped {
		err := os.Remove(logPath(r.dir, rec.upid, rec.id))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.logger.Warn("cannot remove log of rotated task", "upid", rec.id, "err", err)
		}
	}
	r.logger.Info("task index rotated", "dropped", len(dropped))
}

// persistActive rewrites the active file from the running tasks.
func (r *Runner) persistActive() error {
	r.activeMu.Lock()
	defer r.activeMu.Unlock()
	r.mu.RLock()
	ids := make([]string, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	r.mu.RUnlock()
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id)
		b.WriteByte('\n')
	}
	return atomicfile.Write(filepath.Join(r.dir, activeName), []byte(b.String()), 0o640)
}

// maxStartAttempts bounds the search for a free UPID in Start.
const maxStartAttempts = 1 << 16

// Start begins t as a task of user and returns its UPID at once; t.Run goes
// on in its own goroutine.
//
// Every task runs inside the daemon process, so the UPIDs of tasks of the
// same type, object and user started within one second would differ in no
// field that Proxmox VE varies (pid, pstart, starttime). To keep them unique,
// the pstart field carries the daemon's start time in clock ticks plus a
// sequence number counting the tasks this runner started. The result is
// still a plausible pstart, and a later daemon process starts at a later
// tick. As a last guard the log file is created exclusively, and a UPID
// whose log already exists is skipped.
func (r *Runner) Start(user string, t api.Task) (UPID, error) {
	if t.Run == nil {
		return UPID{}, errors.New("task has no Run function")
	}
	start := r.now().Unix()
	u := UPID{Node: r.node, PID: r.pid, StartTime: start, Type: t.Type, ID: t.ID, User: user}
	if !utf8.ValidString(t.Type + t.ID + user) {
		return UPID{}, errors.New("task type, id and user must be valid UTF-8")
	}
	for attempt := 0; ; attempt++ {
		r.mu.Lock()
		if r.closing {
			r.mu.Unlock()
			return UPID{}, ErrClosed
		}
		u.PStart = r.pstart + r.seq
		r.seq++
		r.mu.Unlock()
		if err := u.Validate(); err != nil {
			return UPID{}, fmt.Errorf("cannot start task: %w", err)
		}
		id := u.String()
		f, err := os.OpenFile(logPath(r.dir, u, id), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
		if errors.Is(err, fs.ErrExist) && attempt < maxStartAttempts {
			continue
		}
		if err != nil {
			return UPID{}, fmt.Errorf("cannot create task log: %w", err)
		}
		if err := r.launch(u, id, f, t.Run); err != nil {
			return UPID{}, err
		}
		return u, nil
	}
}

func (r *Runner) launch(u UPID, id string, f *os.File, run func(context.Context, api.TaskLog) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{
		rec:    record{upid: u, id: id},
		path:   f.Name(),
		log:    newTaskLog(f, id, r.logger),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	abandon := func() {
		cancel()
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		abandon()
		return ErrClosed
	}
	r.running[id] = j
	r.unfinished.Add(1)
	r.mu.Unlock()
	// Record the task as running before it does anything, so that a crash
	// from now on is noticed by the next Open.
	if err := r.persistActive(); err != nil {
		// Take the job back, unless a Shutdown that gave up waiting has
		// already finished it (and so undone the registration itself).
		j.mu.Lock()
		mine := !j.ended
		j.ended = true
		j.mu.Unlock()
		if mine {
			r.mu.Lock()
			delete(r.running, id)
			r.mu.Unlock()
			r.unfinished.Done()
			abandon()
		}
		return fmt.Errorf("cannot record running task: %w", err)
	}
	go r.run(ctx, j, run)
	return nil
}

func (r *Runner) run(ctx context.Context, j *job, run func(context.Context, api.TaskLog) error) {
	r.finish(j, r.call(ctx, j, run), false)
}

// panicError is the error of a task whose Run panicked.
type panicError struct{ value any }

func (e panicError) Error() string { return fmt.Sprintf("internal error: task panicked: %v", e.value) }

// call runs the task, turning a panic into a panicError so that a bug in
// one task cannot bring down the daemon and every other task with it. The
// stack goes to the daemon log, for developers; the task log, which users
// read, gets only the message.
func (r *Runner) call(ctx context.Context, j *job, run func(context.Context, api.TaskLog) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("task panicked", "upid", j.rec.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = panicError{p}
		}
	}()
	return run(ctx, j.log)
}

// finish records how j ended: the final log line, the index line, the
// in-memory state, the active file, in that order, so that after a crash
// each earlier step lets Open reconstruct the later ones. Only the first
// call for a job acts, and reports so; forced is set when Shutdown gives up
// waiting.
func (r *Runner) finish(j *job, runErr error, forced bool) bool {
	j.mu.Lock()
	if j.ended {
		j.mu.Unlock()
		return false
	}
	j.ended = true
	reason := j.reason
	j.mu.Unlock()
	panicked := errors.As(runErr, new(panicError))

	if reason != "" && runErr != nil && !panicked && !errors.Is(runErr, context.Canceled) {
		// The task's own account of how it stopped is worth keeping.
		j.log.Printf("%v", runErr)
	}
	exit, err := j.log.finish(func(warnings int) string {
		switch {
		case forced:
			return reason
		case panicked:
			return errorExitStatus(runErr)
		case runErr != nil && reason != "":
			return reason
		case runErr != nil:
			return errorExitStatus(runErr)
		case warnings > 0:
			return warningsExitStatus(warnings)
		}
		return ExitOK
	})
	if err == nil {
		// The log was created without syncing its directory; do it now,
		// before the index says the task finished and points to the log.
		err = atomicfile.SyncDir(filepath.Dir(j.path))
	}
	if err != nil {
		r.logger.Error("cannot write end of task log", "upid", j.rec.id, "err", err)
	}
	rec := j.rec
	rec.endTime = max(r.now().Unix(), rec.upid.StartTime)
	rec.exit = exit

	r.indexMu.Lock()
	if err := appendSync(r.indexPath(), []byte(formatIndexLine(rec))); err != nil {
		// The log's final line still lets the next Open recover the status.
		r.logger.Error("cannot append to task index", "upid", rec.id, "err", err)
	}
	if dropped := r.addArchived([]record{rec}); dropped != nil {
		r.rewriteIndex(dropped)
	}
	r.indexMu.Unlock()

	if err := r.persistActive(); err != nil {
		r.logger.Error("cannot update active task file", "err", err)
	}
	j.cancel() // release the context's resources
	close(j.done)
	r.unfinished.Done()
	return true
}

// lookup parses upid and checks that it names a task of this node. It
// returns the canonical form, under which the runner files tasks.
func (r *Runner) lookup(upid string) (UPID, string, error) {
	u, err := Parse(upid)
	if err != nil {
		return UPID{}, "", err
	}
	if u.Node != r.node {
		return UPID{}, "", fmt.Errorf("%w: task %s belongs to node %q, this is node %q", ErrNotFound, upid, u.Node, r.node)
	}
	return u, u.String(), nil
}

func notFound(upid string) error { return fmt.Errorf("%w: %s", ErrNotFound, upid) }

// Status reports the state of a task. A malformed upid yields an error
// wrapping ErrInvalidUPID, an unknown one an error wrapping ErrNotFound.
func (r *Runner) Status(upid string) (Status, error) {
	_, id, err := r.lookup(upid)
	if err != nil {
		return Status{}, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if j, ok := r.running[id]; ok {
		return j.rec.status(), nil
	}
	if rec, ok := r.archived[id]; ok {
		return rec.status(), nil
	}
	return Status{}, notFound(upid)
}

// Stop asks a running task to stop by cancelling its context, and returns
// without waiting (use Wait for that). If Run then returns an error the task
// ends with ExitStopped; a task that finishes its work regardless keeps its
// own outcome. Stopping a task that already ended does nothing.
func (r *Runner) Stop(upid string) error {
	_, id, err := r.lookup(upid)
	if err != nil {
		return err
	}
	r.mu.RLock()
	j, running := r.running[id]
	_, archived := r.archived[id]
	r.mu.RUnlock()
	switch {
	case running:
		j.interrupt(ExitStopped)
		return nil
	case archived:
		return nil
	}
	return notFound(upid)
}

// interrupt cancels the job, remembering why unless it already knows.
func (j *job) interrupt(reason string) {
	j.mu.Lock()
	if j.reason == "" {
		j.reason = reason
	}
	j.mu.Unlock()
	j.cancel()
}

// Wait blocks until the task has ended and its record is complete, or ctx is
// done, and returns its status.
func (r *Runner) Wait(ctx context.Context, upid string) (Status, error) {
	_, id, err := r.lookup(upid)
	if err != nil {
		return Status{}, err
	}
	r.mu.RLock()
	j, ok := r.running[id]
	r.mu.RUnlock()
	if ok {
		select {
		case <-j.done:
		case <-ctx.Done():
			return Status{}, ctx.Err()
		}
	}
	return r.Status(upid)
}

// ReadLog returns lines of a task's log: at most limit lines beginning at the
// 0-based line offset start, numbered from 1 as in Proxmox VE, and the
// total number of lines. A limit of 0 means DefaultLogLimit, a negative one
// means all lines; so a caller that wants only the total, as Proxmox VE's
// explicit limit=0 gives, discards the lines. A running task's log may grow
// between calls; a follower asks again from start = total.
func (r *Runner) ReadLog(upid string, start, limit int) ([]LogLine, int, error) {
	u, id, err := r.lookup(upid)
	if err != nil {
		return nil, 0, err
	}
	if start < 0 {
		return nil, 0, fmt.Errorf("log start %d is negative", start)
	}
	if limit == 0 {
		limit = DefaultLogLimit
	}
	lines, total, err := readLog(logPath(r.dir, u, id), start, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, notFound(upid)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading log of %s: %w", upid, err)
	}
	return lines, total, nil
}

// Shutdown stops accepting tasks, cancels the running ones with exit status
// ExitShutdown (for those whose Run returns an error) and waits for them. If
// ctx ends first, the tasks still running are recorded as ended with
// ExitShutdown anyway, their later log writes are dropped, and Shutdown
// returns an error wrapping ctx.Err(). It may be called more than once.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	jobs := make([]*job, 0, len(r.running))
	for _, j := range r.running {
		jobs = append(jobs, j)
	}
	r.mu.Unlock()
	for _, j := range jobs {
		j.interrupt(ExitShutdown)
	}
	all := make(chan struct{})
	go func() {
		r.unfinished.Wait()
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
		select {
		case <-all: // both were ready; the tasks did finish
			return nil
		default:
		}
	}
	forced := 0
	for _, j := range jobs {
		if r.finish(j, nil, true) {
			forced++
		}
	}
	return fmt.Errorf("task runner: %d tasks did not stop in time: %w", forced, ctx.Err())
}
