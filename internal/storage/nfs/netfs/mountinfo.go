package netfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo (proc(5)).
type Mount struct {
	ID, Parent   int
	Dev          string // major:minor
	Root         string // the directory of the file system mounted here
	Point        string // the mount point
	Options      string // per-mount options
	FSType       string // "nfs4", "cifs", "fuse.glusterfs", …
	Source       string // "server:/export", "//server/share", …
	SuperOptions string
}

// MountInfoPath is the mount table of the calling process.
const MountInfoPath = "/proc/self/mountinfo"

// ParseMountInfo reads the mount table format:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Optional fields end at the lone "-"; paths carry the kernel's octal
// escapes (\040 for a space), which are undone.
func ParseMountInfo(data []byte) ([]Mount, error) {
	var out []Mount
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || len(f) < sep+3 {
			return nil, fmt.Errorf("mountinfo line %d is malformed: %q", n+1, line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d has no numeric ids: %q", n+1, line)
		}
		m := Mount{ID: id, Parent: parent, Dev: f[2], Root: unescape(f[3]), Point: unescape(f[4]),
			Options: f[5], FSType: unescape(f[sep+1]), Source: unescape(f[sep+2])}
		if len(f) > sep+3 {
			m.SuperOptions = f[sep+3]
		}
		out = append(out, m)
	}
	return out, nil
}

// ReadMountInfo reads and parses a mount table file (MountInfoPath when
// path is empty).
func ReadMountInfo(path string) ([]Mount, error) {
	if path == "" {
		path = MountInfoPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	return ParseMountInfo(data)
}

func unescape(s string) string {
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

// At returns the entries mounted on point. The kernel lists mount points
// with symbolic links resolved, so point's directory is resolved too when
// the literal path matches nothing; point itself is never stat'ed, as a
// mount of a dead server there could hang.
func At(mounts []Mount, point string) []Mount {
	point = filepath.Clean(point)
	match := func(p string) []Mount {
		var out []Mount
		for _, m := range mounts {
			if m.Point == p {
				out = append(out, m)
			}
		}
		return out
	}
	if out := match(point); len(out) > 0 {
		return out
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(point)); err == nil {
		if real := filepath.Join(dir, filepath.Base(point)); real != point {
			return match(real)
		}
	}
	return nil
}
