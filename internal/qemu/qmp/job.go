package qmp

import (
	"context"
	"errors"
	"fmt"
)

// ErrJobCancelled is wrapped by a JobError for a block job that ended by
// cancellation rather than failure.
var ErrJobCancelled = errors.New("job cancelled")

// JobError is how a background job failed.
type JobError struct {
	ID        string
	Msg       string
	Cancelled bool
}

func (e *JobError) Error() string { return fmt.Sprintf("job %s: %s", e.ID, e.Msg) }

// Unwrap lets errors.Is(err, ErrJobCancelled) find a cancellation.
func (e *JobError) Unwrap() error {
	if e.Cancelled {
		return ErrJobCancelled
	}
	return nil
}

// Job is one entry of query-jobs.
type Job struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	Status          string `json:"status"`
	CurrentProgress int64  `json:"current-progress"`
	TotalProgress   int64  `json:"total-progress"`
	Error           string `json:"error,omitempty"`
}

// QueryJobs lists the background jobs QEMU still knows about.
func (c *Client) QueryJobs(ctx context.Context) ([]Job, error) {
	var js []Job
	err := c.Execute(ctx, "query-jobs", nil, &js)
	return js, err
}

// JobComplete tells a ready job (a mirror in sync) to finish.
func (c *Client) JobComplete(ctx context.Context, id string) error {
	return c.Execute(ctx, "job-complete", map[string]string{"id": id}, nil)
}

// JobCancel aborts a job.
func (c *Client) JobCancel(ctx context.Context, id string) error {
	return c.Execute(ctx, "job-cancel", map[string]string{"id": id}, nil)
}

// JobDismiss removes a concluded job from query-jobs.
func (c *Client) JobDismiss(ctx context.Context, id string) error {
	return c.Execute(ctx, "job-dismiss", map[string]string{"id": id}, nil)
}

// SubscribeJob subscribes to the events of job id: its status changes and,
// for block jobs, the completion events that carry their error even when
// QEMU dismisses the job on its own.
func (c *Client) SubscribeJob(id string) (<-chan Event, func()) {
	return c.Subscribe(func(e Event) bool {
		switch e.Name {
		case "JOB_STATUS_CHANGE":
			var d struct {
				ID string `json:"id"`
			}
			return e.Decode(&d) == nil && d.ID == id
		case "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", "BLOCK_JOB_READY", "BLOCK_JOB_ERROR":
			var d struct {
				Device string `json:"device"`
			}
			return e.Decode(&d) == nil && d.Device == id
		}
		return false
	})
}

// WaitJob waits on sub (from SubscribeJob) until job id concludes,
// dismisses it, and returns its error as a *JobError. If ctx ends first the
// job keeps running in QEMU.
func (c *Client) WaitJob(ctx context.Context, sub <-chan Event, id string) error {
	return c.waitJob(ctx, sub, id, "")
}

// WaitJobStatus waits on sub until job id reaches status (such as "ready"
// for a mirror). A job that concludes first returns its error, or an error
// saying it ended without reaching status.
func (c *Client) WaitJobStatus(ctx context.Context, sub <-chan Event, id, status string) error {
	return c.waitJob(ctx, sub, id, status)
}

// RunJob subscribes to job id, calls start (which sends the command that
// creates the job), and waits for the job to conclude.
func (c *Client) RunJob(ctx context.Context, id string, start func(context.Context) error) error {
	sub, cancel := c.SubscribeJob(id)
	defer cancel()
	if err := start(ctx); err != nil {
		return err
	}
	return c.WaitJob(ctx, sub, id)
}

func (c *Client) waitJob(ctx context.Context, sub <-chan Event, id, until string) error {
	var blockErr string
	cancelled := false
	for {
		ev, err := waitFor(ctx, sub, "job "+id, func(Event) bool { return true })
		if err != nil {
			return err
		}
		switch ev.Name {
		case "BLOCK_JOB_COMPLETED":
			var d struct {
				Error string `json:"error"`
			}
			if ev.Decode(&d) == nil {
				blockErr = d.Error
			}
		case "BLOCK_JOB_CANCELLED":
			cancelled = true
		case "JOB_STATUS_CHANGE":
			var d struct {
				Status string `json:"status"`
			}
			if err := ev.Decode(&d); err != nil {
				return err
			}
			if until != "" && d.Status == until {
				return nil
			}
			if d.Status == "concluded" || d.Status == "null" {
				err := c.concludeJob(ctx, id, blockErr, cancelled)
				if err == nil && until != "" {
					err = fmt.Errorf("job %s ended without reaching status %s", id, until)
				}
				return err
			}
		}
	}
}

// concludeJob collects a concluded job's error and dismisses it. A job
// created with auto-dismiss may already be gone; then the error comes from
// the block job event seen earlier.
func (c *Client) concludeJob(ctx context.Context, id, blockErr string, cancelled bool) error {
	jobs, err := c.QueryJobs(ctx)
	if err != nil {
		return fmt.Errorf("job %s concluded, but reading its result failed: %w", id, err)
	}
	msg := blockErr
	for _, j := range jobs {
		if j.ID != id {
			continue
		}
		if j.Error != "" {
			msg = j.Error
		}
		if j.Status == "concluded" {
			if err := c.JobDismiss(ctx, id); err != nil {
				return fmt.Errorf("dismiss job %s: %w", id, err)
			}
		}
	}
	if msg == "" && cancelled {
		msg = "cancelled"
	}
	if msg != "" {
		return &JobError{ID: id, Msg: msg, Cancelled: cancelled}
	}
	return nil
}

// SnapshotSave writes an internal snapshot called tag to devices (node
// names), with the VM state in node vmstate, and waits for the job.
func (c *Client) SnapshotSave(ctx context.Context, jobID, tag, vmstate string, devices []string) error {
	args := map[string]any{"job-id": jobID, "tag": tag, "vmstate": vmstate, "devices": devices}
	return c.runSnapshotJob(ctx, "snapshot-save", jobID, args)
}

// SnapshotLoad reverts devices and the VM state to snapshot tag and waits
// for the job. The VM must be stopped.
func (c *Client) SnapshotLoad(ctx context.Context, jobID, tag, vmstate string, devices []string) error {
	args := map[string]any{"job-id": jobID, "tag": tag, "vmstate": vmstate, "devices": devices}
	return c.runSnapshotJob(ctx, "snapshot-load", jobID, args)
}

// SnapshotDelete removes snapshot tag from devices and waits for the job.
func (c *Client) SnapshotDelete(ctx context.Context, jobID, tag string, devices []string) error {
	args := map[string]any{"job-id": jobID, "tag": tag, "devices": devices}
	return c.runSnapshotJob(ctx, "snapshot-delete", jobID, args)
}

func (c *Client) runSnapshotJob(ctx context.Context, command, jobID string, args any) error {
	if jobID == "" {
		return fmt.Errorf("%s: a job id is required", command)
	}
	return c.RunJob(ctx, jobID, func(ctx context.Context) error {
		return c.Execute(ctx, command, args, nil)
	})
}
