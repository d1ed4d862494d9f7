package cfs

import (
	"errors"
	"fmt"
)

// Sentinel errors. The typed errors below match them with errors.Is, so a
// caller can branch on the kind of failure without caring which operation
// or path produced it.
var (
	// ErrNotFound means the path does not exist.
	ErrNotFound = errors.New("no such file or directory")
	// ErrExist means the path exists where it must not (mkdir, rename onto a
	// directory target).
	ErrExist = errors.New("file exists")
	// ErrIsDir means a file operation met a directory.
	ErrIsDir = errors.New("is a directory")
	// ErrNotDir means a path walks through a file as if it were a directory.
	ErrNotDir = errors.New("not a directory")
	// ErrNotEmpty means a directory to delete still has children.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrInvalid is matched by every *PathError and by malformed operations.
	ErrInvalid = errors.New("invalid argument")
	// ErrConflict is matched by every *ConflictError.
	ErrConflict = errors.New("precondition failed")
	// ErrTooLarge is matched by every *LimitError.
	ErrTooLarge = errors.New("size limit exceeded")
	// ErrNoQuorum means no leader is known, so the tree is read-only. The
	// text is what pmxcfs users know from Proxmox VE tools, which is why it
	// carries no package prefix.
	ErrNoQuorum = errors.New("cluster not ready - no quorum?")
	// ErrNotLeader means another node leads the cluster and the write could
	// not be handed to it (no Config.Forward), or a node that just lost
	// the leadership refused forwarded work.
	ErrNotLeader = errors.New("cfs: this node is not the leader")
	// ErrLeaderStarting means the leader's node refused a forwarded
	// request before handling it because it is still starting; the
	// request had no effect and is tried again.
	ErrLeaderStarting = errors.New("cfs: the leader's node is still starting")
	// ErrClosed is returned by operations on a closed Store.
	ErrClosed = errors.New("cfs: store is closed")
)

// PathError reports a path that fails validation.
type PathError struct {
	Path   string
	Reason string // what is wrong and, implicitly, what is allowed
}

func (e *PathError) Error() string {
	return fmt.Sprintf("cfs: invalid path %q: %s", e.Path, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *PathError) Is(target error) bool { return target == ErrInvalid }

// OpError reports an operation that the current state of the tree does not
// allow, e.g. deleting a non-empty directory. Err is one of the sentinels.
type OpError struct {
	Op   string // "write", "delete", "mkdir", "rename", "get", "list"
	Path string
	Err  error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("cfs: %s %q: %v", e.Op, e.Path, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// ConflictError reports a Cond that did not hold when the transaction was
// applied. Have and Want describe the mismatch in words: Check "version",
// Have "7", Want "5"; or Check "existence", Have "present", Want "absent".
type ConflictError struct {
	Path  string
	Check string // "existence", "version" or "digest"
	Have  string
	Want  string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("cfs: precondition failed on %q: %s is %s, expected %s", e.Path, e.Check, e.Have, e.Want)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// LimitError reports a write that would make a file, or the sum of all
// files, larger than allowed. The whole transaction is refused.
type LimitError struct {
	Path  string
	Size  int64 // size of the file, or of all files together when Total
	Limit int64
	Total bool
}

func (e *LimitError) Error() string {
	if e.Total {
		return fmt.Sprintf("cfs: write %q: total size of all files would be %d bytes, limit is %d", e.Path, e.Size, e.Limit)
	}
	return fmt.Sprintf("cfs: write %q: file size %d bytes exceeds limit of %d", e.Path, e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }
