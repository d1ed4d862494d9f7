package hook

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// UnmountAll unmounts every mount at or below root, deepest first. A
// mount that is still busy is detached lazily, so a stopped container
// never keeps its volumes from being freed or started again.
func UnmountAll(root string) error {
	mounts, err := mountsBelow(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		err := unix.Unmount(m, 0)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(m, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// Mounted says whether something is mounted at or below root.
func Mounted(root string) bool {
	m, err := mountsBelow(root)
	return err == nil && len(m) > 0
}

// mountsBelow lists the mount points at or below root from
// /proc/self/mountinfo, in reverse mount order (children first).
func mountsBelow(root string) ([]string, error) {
	root = filepath.Clean(root)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == root || strings.HasPrefix(mp, root+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// unescapeMountinfo decodes the octal escapes (\040 for a space) of a
// mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
