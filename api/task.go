package api

import "context"

// TaskLog is where a running task writes its log. The task runner implements
// it; handlers only see this interface.
type TaskLog interface {
	// Printf appends one line (or several, split at newlines) to the log.
	Printf(format string, args ...any)
	// Warnf appends a line prefixed with "WARN: " and counts it, so the task
	// ends with the exit status "WARNINGS: <n>" instead of "OK".
	Warnf(format string, args ...any)
	// Progress records how far the task is (done of total, in any unit).
	// Followers such as the CLI draw a progress bar from these lines.
	Progress(done, total int64)
}

// Task is the work a task endpoint hands to the task runner. The handler
// validates its input and returns a Task; the server starts it and answers
// the client at once with the task id (UPID).
type Task struct {
	// Type is the Proxmox VE task type, such as "qmstart" or "vzdump".
	Type string
	// ID names the object the task works on, usually the guest id; may be empty.
	ID string
	// Run does the work. Its context is cancelled when the task is stopped
	// or the daemon shuts down. A nil error means success.
	Run func(ctx context.Context, log TaskLog) error
}
