package task

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrInvalidUPID is wrapped by every error Parse returns, so that callers can
// tell a malformed task id from a task that does not exist.
var ErrInvalidUPID = errors.New("invalid UPID")

// UPID identifies one task, in the form Proxmox VE clients expect:
//
//	UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:
//
// PID, PStart and StartTime are printed as upper-case hex padded to 8 digits.
//
// All tasks of a Hearth daemon run inside that one process, so PID is the
// daemon's pid for every task. PStart is not the start time of a worker
// process as in Proxmox VE but the daemon's own start time (in clock ticks
// since boot) plus a per-runner sequence number; see Runner.Start.
type UPID struct {
	Node      string
	PID       uint32
	PStart    uint64
	StartTime int64
	Type      string
	ID        string
	User      string
}

// String prints the UPID in canonical form: upper-case hex, zero-padded to 8
// digits, with the trailing colon. A PStart above 0xFFFFFFFF prints with 9
// digits, which Parse accepts; values the format cannot carry (a PStart of
// more than 9 digits, a negative StartTime, fields with ':' or white space)
// print a string Parse rejects, and Validate reports them.
func (u UPID) String() string {
	var b strings.Builder
	b.Grow(len("UPID:") + len(u.Node) + 3*9 + len(u.Type) + len(u.ID) + len(u.User) + 8)
	b.WriteString("UPID:")
	b.WriteString(u.Node)
	fmt.Fprintf(&b, ":%08X:%08X:%08X:", u.PID, u.PStart, u.StartTime)
	b.WriteString(u.Type)
	b.WriteByte(':')
	b.WriteString(u.ID)
	b.WriteByte(':')
	b.WriteString(u.User)
	b.WriteByte(':')
	return b.String()
}

// Validate reports whether String would print a UPID that Parse accepts and
// that parses back to u.
func (u UPID) Validate() error {
	switch {
	case !validNode(u.Node):
		return invalid("node %q is not a host name label", u.Node)
	case u.PStart > maxPStart:
		return invalid("pstart %d does not fit in 9 hex digits", u.PStart)
	case u.StartTime < 0 || u.StartTime > maxHex8:
		return invalid("starttime %d does not fit in 8 hex digits", u.StartTime)
	case u.Type == "" || !validField(u.Type):
		return invalid("type %q must be non-empty without ':' or white space", u.Type)
	case !validField(u.ID):
		return invalid("id %q must not contain ':' or white space", u.ID)
	case u.User == "" || !validField(u.User):
		return invalid("user %q must be non-empty without ':' or white space", u.User)
	}
	return nil
}

const (
	maxHex8   = 0xFFFFFFFF
	maxPStart = 0xFFFFFFFFF // Proxmox VE's parser takes pstart with 8 or 9 digits
	upidTag   = "UPID:"
)

// Parse reads a UPID. It accepts what Proxmox VE's own parser accepts: hex in
// either case, and a pstart of 8 or 9 digits.
func Parse(s string) (UPID, error) {
	var u UPID
	rest, ok := strings.CutPrefix(s, upidTag)
	if !ok {
		return u, invalid("must start with %q", upidTag)
	}
	// Eight fields follow the tag, the last one empty because of the
	// trailing colon. None of the fields may contain a colon, so splitting
	// is exact.
	f := strings.Split(rest, ":")
	if len(f) != 8 {
		return u, invalid("has %d colon-separated fields after %q, want 7 and a trailing colon", len(f)-1, upidTag)
	}
	if f[7] != "" {
		return u, invalid("must end with ':'")
	}
	if !validNode(f[0]) {
		return u, invalid("node %q is not a host name label", f[0])
	}
	u.Node = f[0]
	pid, err := parseHex(f[1], 8, 8)
	if err != nil {
		return UPID{}, invalid("pid %q: %v", f[1], err)
	}
	u.PID = uint32(pid)
	if u.PStart, err = parseHex(f[2], 8, 9); err != nil {
		return UPID{}, invalid("pstart %q: %v", f[2], err)
	}
	start, err := parseHex(f[3], 8, 8)
	if err != nil {
		return UPID{}, invalid("starttime %q: %v", f[3], err)
	}
	u.StartTime = int64(start)
	if f[4] == "" || !validField(f[4]) {
		return UPID{}, invalid("type %q must be non-empty without white space", f[4])
	}
	u.Type = f[4]
	if !validField(f[5]) {
		return UPID{}, invalid("id %q must not contain white space", f[5])
	}
	u.ID = f[5]
	if f[6] == "" || !validField(f[6]) {
		return UPID{}, invalid("user %q must be non-empty without white space", f[6])
	}
	u.User = f[6]
	return u, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidUPID, fmt.Sprintf(format, args...))
}

// parseHex reads a hex number of min to max digits. strconv alone would also
// take signs and a 0x prefix, which the format does not allow.
func parseHex(s string, min, max int) (uint64, error) {
	if len(s) < min || len(s) > max {
		if min == max {
			return 0, fmt.Errorf("want %d hex digits, got %d characters", min, len(s))
		}
		return 0, fmt.Errorf("want %d to %d hex digits, got %d characters", min, max, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return 0, fmt.Errorf("%q is not a hex digit", s[i])
		}
	}
	return strconv.ParseUint(s, 16, 64)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// validNode checks a DNS label: letters, digits and inner hyphens.
func validNode(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// validField checks the type, id and user fields: anything but a colon or
// white space, as on the Proxmox VE side. Control characters are refused as
// well, so that no field can break a line of the index or active file.
func validField(s string) bool {
	for _, r := range s {
		if r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}
