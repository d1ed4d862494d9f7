package task

import (
	"fmt"

	"github.com/hearth-virt/hearth/api"
	"regexp"
	"strings"
)

// States of a task in Status.Status.
const (
	StateRunning = "running"
	StateStopped = "stopped"
)

// Exit statuses the runner writes besides the error text of a failed task.
const (
	// ExitOK is the exit status of a task that ended without error or warning.
	ExitOK = "OK"
	// ExitDaemonLost ends tasks that a previous daemon process left running
	// when it stopped without finishing them (a crash, a kill). It starts
	// with "unexpected status", the words Proxmox VE uses for a task whose
	// end was not recorded, so that both classify it as "unknown".
	ExitDaemonLost = "unexpected status - the daemon stopped while the task was running"
	// ExitStopped ends a task whose Run returned an error after it was
	// stopped on request (Runner.Stop).
	ExitStopped = "interrupted - task stopped on request"
	// ExitShutdown ends a task whose Run returned an error, or did not return
	// in time, after the daemon began shutting down.
	ExitShutdown = "interrupted - daemon shutting down"
)

// Outcome classes of an exit status, as used by Filter.StatusFilter. They are
// the names Proxmox VE uses for its statusfilter parameter.
const (
	OutcomeOK      = "ok"
	OutcomeWarning = "warning"
	OutcomeError   = "error"
	OutcomeUnknown = "unknown"
	// OutcomeRunning is the class of a task that has not ended yet.
	OutcomeRunning = "running"
)

// ListRunning is the status a running task has in List results. The list's
// status field otherwise holds the exit status; Proxmox VE fills it with this
// marker for tasks that have none yet.
const ListRunning = "RUNNING"

var warningsRE = regexp.MustCompile(`^WARNINGS: [0-9]+$`)

// Outcome classifies an exit status as OutcomeOK, OutcomeWarning,
// OutcomeError or OutcomeUnknown, and an empty one as OutcomeRunning.
func Outcome(exitstatus string) string {
	switch {
	case exitstatus == "" || exitstatus == ListRunning:
		return OutcomeRunning
	case exitstatus == ExitOK:
		return OutcomeOK
	case warningsRE.MatchString(exitstatus):
		return OutcomeWarning
	case strings.HasPrefix(exitstatus, "unexpected status"):
		return OutcomeUnknown
	}
	return OutcomeError
}

// Status is the state of one task: the API's answer to GET
// /nodes/{node}/tasks/{upid}/status. ExitStatus is present only once the
// task is stopped: "OK", "WARNINGS: <n>" or the error text.
type Status = api.TaskStatus

// ListEntry is one task in a List result, an item of the API's GET
// /nodes/{node}/tasks. Unlike Status, its Status field holds the exit
// status of a finished task (ListRunning for a running one), and EndTime is
// present only for finished tasks.
type ListEntry = api.TaskListItem

// record is what the runner keeps about a task: its parsed UPID, its
// canonical string and, once it ended, when and how.
type record struct {
	upid    UPID
	id      string // canonical UPID string
	endTime int64  // 0 while running
	exit    string // "" while running
}

func (r record) status() Status {
	s := Status{
		UPID: r.id, Node: r.upid.Node, PID: r.upid.PID, PStart: r.upid.PStart,
		StartTime: r.upid.StartTime, Type: r.upid.Type, ID: r.upid.ID, User: r.upid.User,
		Status: StateRunning,
	}
	if r.exit != "" {
		s.Status = StateStopped
		s.ExitStatus = r.exit
	}
	return s
}

func (r record) listEntry() ListEntry {
	e := ListEntry{
		UPID: r.id, Node: r.upid.Node, PID: r.upid.PID, PStart: r.upid.PStart,
		StartTime: r.upid.StartTime, Type: r.upid.Type, ID: r.upid.ID, User: r.upid.User,
		EndTime: r.endTime, Status: r.exit,
	}
	if r.exit == "" {
		e.Status = ListRunning
		e.EndTime = 0
	}
	return e
}

// errorExitStatus turns the error of a failed task into its exit status. The
// status is stored on one line of the index, so every run of white space
// (line breaks included) becomes one space;
// and a text that would read as success or as the status of a lost task gets
// a prefix, so that a failed task is never classified as anything but an
// error.
func errorExitStatus(err error) string {
	s := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\x00", " ")), " ")
	if s == "" {
		return "task failed without an error message"
	}
	if Outcome(s) != OutcomeError {
		s = "error: " + s
	}
	return s
}

func warningsExitStatus(n int) string { return fmt.Sprintf("WARNINGS: %d", n) }
