package task

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// On-disk layout under Config.Dir:
//
//	index        finished tasks, oldest first, one "<UPID> <endtime> <exitstatus>"
//	             line each (endtime as 8 upper-case hex digits), as Proxmox VE's
//	             task index; appended to, and rewritten only when rotated
//	active       the UPIDs of running tasks, one a line; rewritten whole
//	0 … F        the task logs, one file named after its UPID, in the
//	             subdirectory given by the last hex digit of the start time
const (
	indexName  = "index"
	activeName = "active"
)

// logPath is where the log of u lives. Spreading logs over 16 directories
// by the last digit of the start time keeps each directory small, as in
// Proxmox VE.
func logPath(dir string, u UPID, canonical string) string {
	hex := fmt.Sprintf("%08X", u.StartTime)
	return filepath.Join(dir, hex[len(hex)-1:], canonical)
}

func formatIndexLine(rec record) string {
	return fmt.Sprintf("%s %08X %s\n", rec.id, rec.endTime, rec.exit)
}

// parseIndexLine reads one index line. A line without exit status (never
// written by Hearth, but short lines may come from elsewhere) reads as a task
// whose end is unknown.
func parseIndexLine(line string) (record, error) {
	id, rest, _ := strings.Cut(line, " ")
	u, err := Parse(id)
	if err != nil {
		return record{}, err
	}
	endHex, exit, _ := strings.Cut(rest, " ")
	if len(endHex) != 8 {
		return record{}, fmt.Errorf("end time %q is not 8 hex digits", endHex)
	}
	end, err := strconv.ParseUint(endHex, 16, 32)
	if err != nil {
		return record{}, fmt.Errorf("end time %q is not 8 hex digits", endHex)
	}
	exit = strings.TrimSpace(exit)
	if exit == "" {
		exit = ExitDaemonLost
	}
	return record{upid: u, id: u.String(), endTime: int64(end), exit: exit}, nil
}

// loadIndex reads the archive index. Lines that cannot be parsed are
// skipped and counted in bad, and a torn last line (a crash in the middle of
// an append) is cut off the file so that the next append starts on a line
// of its own; the task it described is still in the active file and is
// recovered from there.
func loadIndex(path string) (recs []record, bad int, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if n := len(data); n > 0 && data[n-1] != '\n' {
		keep := bytes.LastIndexByte(data, '\n') + 1
		if err := truncateSync(path, int64(keep)); err != nil {
			return nil, 0, fmt.Errorf("cutting torn last line: %w", err)
		}
		data = data[:keep]
	}
	seen := make(map[string]bool)
	for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		rec, err := parseIndexLine(line)
		if err != nil {
			bad++
			continue
		}
		if seen[rec.id] {
			continue // a task recorded twice (a crash between index and active writes)
		}
		seen[rec.id] = true
		recs = append(recs, rec)
	}
	return recs, bad, nil
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendSync appends data in one write and syncs it to disk before
// returning, so that a task reported as finished stays finished after a
// power loss.
func appendSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// loadActive reads the UPIDs recorded as running. Unparseable lines are
// counted in bad and skipped.
func loadActive(path string) (ids []UPID, bad int, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		// Allow extra fields after the UPID, for forward compatibility.
		first, _, _ := strings.Cut(line, " ")
		u, err := Parse(first)
		if err != nil {
			bad++
			continue
		}
		ids = append(ids, u)
	}
	return ids, bad, nil
}
