package task

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// processStartTicks returns this process's start time in clock ticks since
// boot: field 22 of /proc/self/stat. Proxmox VE puts the same value, read
// for the worker process, into the pstart field of a UPID.
func processStartTicks() (uint64, error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, fmt.Errorf("reading process start time: %w", err)
	}
	return parseStatStartTime(data)
}

func parseStatStartTime(data []byte) (uint64, error) {
	// Field 2, the command name, is in parentheses and may itself contain
	// spaces and parentheses; the fields after the last ')' are plain.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("reading process start time: malformed /proc/self/stat")
	}
	fields := bytes.Fields(data[i+1:])
	const startTimeField = 22 - 3 // fields after ')' begin with field 3
	if len(fields) <= startTimeField {
		return 0, fmt.Errorf("reading process start time: /proc/self/stat has too few fields")
	}
	v, err := strconv.ParseUint(string(fields[startTimeField]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading process start time: %w", err)
	}
	return v, nil
}
