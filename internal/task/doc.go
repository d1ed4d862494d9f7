// Package task runs the long operations behind Proxmox VE style task
// endpoints. Every task gets a UPID naming the node, the daemon process, its
// start time, type, object and user; its work runs in a goroutine of the
// daemon with a cancellable context, writes a plain-text log with one file
// per task spread over sixteen subdirectories, and ends with an exit status
// ("OK", "WARNINGS: <n>" or the error text) that is appended both to the log
// and to an append-only archive index. Running tasks are recorded in a small
// active file so that a daemon that restarts after a crash can close the
// records of tasks it lost, and every file is written so that a crash leaves
// either the old or the new content, never a torn mix.
package task
