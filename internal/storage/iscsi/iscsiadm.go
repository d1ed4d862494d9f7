package iscsi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/hearth-virt/hearth/internal/runner"
)

// iscsiadm exit codes (open-iscsi's ISCSI_ERR_*) the plugin tells apart.
const (
	errSessExists    = 15 // login: the session already exists
	errNoObjsFound   = 21 // no sessions, no records
	defaultISCSIPort = "3260"
)

// Session is one line of `iscsiadm --mode session`.
type Session struct {
	ID     string // the session id, for --sid
	Portal string // "<ip>:<port>", IPv6 in brackets
	Target string
}

// Node is a portal serving a target: a line of `iscsiadm --mode node`
// or of SendTargets discovery.
type Node struct {
	Portal string // "<ip>:<port>", IPv6 in brackets
	Target string
}

var (
	// "tcp: [1] 192.168.122.252:3260,1 iqn.2003-01.org.example:sn.1 (non-flash)"
	sessionRE = regexp.MustCompile(`^tcp:\s+\[(\S+)\]\s+(\S+:\d+),\S+\s+(\S+)(?:\s+\S+)?\s*$`)
	// "10.10.10.1:3260,1 iqn.2003-01.org.example:sn.1" (the portal is an
	// address: iscsiadm prints what the target answered)
	nodeRE = regexp.MustCompile(`^(\S+:\d+),\S+\s+(\S+)\s*$`)
)

// ParseSessions reads `iscsiadm --mode session`. Lines of other
// transports or forms are skipped.
func ParseSessions(out []byte) []Session {
	var res []Session
	eachLine(out, func(line string) {
		if m := sessionRE.FindStringSubmatch(line); m != nil && validPortal(m[2]) && validName(m[3]) {
			res = append(res, Session{ID: m[1], Portal: m[2], Target: m[3]})
		}
	})
	return res
}

// ParseNodes reads `iscsiadm --mode node` and the output of SendTargets
// discovery, which share one format.
func ParseNodes(out []byte) []Node {
	var res []Node
	eachLine(out, func(line string) {
		if m := nodeRE.FindStringSubmatch(line); m != nil && validPortal(m[1]) && validName(m[2]) {
			res = append(res, Node{Portal: m[1], Target: m[2]})
		}
	})
	return res
}

func eachLine(out []byte, f func(string)) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f(strings.TrimSpace(sc.Text()))
	}
}

// validPortal accepts the "<ip>:<port>" and "[<ipv6>]:<port>" addresses
// iscsiadm prints.
func validPortal(p string) bool {
	host, port, err := net.SplitHostPort(p)
	if err != nil || net.ParseIP(host) == nil {
		return false
	}
	if strings.Contains(host, ":") != strings.HasPrefix(p, "[") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}

// validName accepts iSCSI names as far as they can go on a command line
// and into a file name safely.
func validName(s string) bool {
	if s == "" || len(s) > 223 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("/%?#@\\'\"", r) {
			return false
		}
	}
	return true
}

// exitCode is the exit code of a failed tool, -1 if it did not run.
func exitCode(err error) int {
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}

func iscsiadm(args ...string) runner.Cmd { return runner.Cmd{Name: "iscsiadm", Args: args} }

// sessions lists the node's iSCSI sessions.
func sessions(ctx context.Context, r runner.Runner) ([]Session, error) {
	res, err := r.Run(ctx, iscsiadm("--mode", "session"))
	if err != nil {
		if exitCode(err) == errNoObjsFound {
			return nil, nil
		}
		return nil, fmt.Errorf("listing iSCSI sessions: %w", err)
	}
	return ParseSessions(res.Stdout), nil
}

// Discover asks a portal for its targets with SendTargets, as
// `pvesm scan iscsi` does: it returns each target with the portals it
// is reachable through. iscsiadm records the answer in its node
// database, which the login uses.
func Discover(ctx context.Context, r runner.Runner, portal string) (map[string][]string, error) {
	res, err := r.Run(ctx, iscsiadm("--mode", "discovery", "--type", "sendtargets", "--portal", portal))
	if err != nil {
		return nil, fmt.Errorf("iSCSI discovery on portal %s: %w", portal, err)
	}
	out := map[string][]string{}
	for _, n := range ParseNodes(res.Stdout) {
		out[n.Target] = append(out[n.Target], n.Portal)
	}
	return out, nil
}

// withPort adds the default iSCSI port to a portal without one, so that
// a storage.cfg portal compares with the addresses iscsiadm prints.
func withPort(portal string) string {
	if _, _, err := net.SplitHostPort(portal); err == nil {
		return portal
	}
	if strings.Count(portal, ":") >= 2 && !strings.HasPrefix(portal, "[") {
		return "[" + portal + "]:" + defaultISCSIPort
	}
	return portal + ":" + defaultISCSIPort
}
