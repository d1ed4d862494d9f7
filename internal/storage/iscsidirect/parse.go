package iscsidirect

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// LsTarget is one target in the output of `iscsi-ls -s`.
type LsTarget struct {
	IQN    string
	Portal string // as iscsi-ls prints it: "127.0.0.1:3260,1"
	LUNs   []LsLUN
}

// LsLUN is one logical unit in the output of `iscsi-ls -s`.
type LsLUN struct {
	LUN  int
	Type string // SCSI peripheral type: DIRECT_ACCESS, STORAGE_ARRAY_CONTROLLER, …
	// Size is the size iscsi-ls shows, rounded down to a whole k, M, G
	// or T; -1 when it shows none (controllers). It is only a fallback:
	// iscsi-readcapacity16 gives the exact size.
	Size int64
}

var (
	lsTargetRE = regexp.MustCompile(`^Target:(\S+)(?:\s+Portal:(\S+))?\s*$`)
	// The LUN line, as Proxmox VE reads it: a number, a type word and an
	// optional size with a unit.
	lsLUNRE = regexp.MustCompile(`^Lun:(\d+)\s+(?:Type:)?([A-Za-z0-9_.:-]*)\s*(?:\(Size:([0-9.]+)([kMGT])\))?\s*$`)
)

var unitBytes = map[string]float64{"k": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

// ParseLs reads the output of `iscsi-ls -s iscsi://<portal>`: a
// "Target:<iqn> Portal:<address>,<tpgt>" line per target followed by
// "Lun:<n>  Type:<type> (Size:<n><unit>)" lines. A target reached through
// several portals is listed once, with the LUNs of all its lines. Lines
// of other forms (libiscsi's warnings) are skipped.
func ParseLs(out []byte) ([]LsTarget, error) {
	var targets []LsTarget
	index := map[string]int{}
	cur := -1
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := lsTargetRE.FindStringSubmatch(line); m != nil {
			i, ok := index[m[1]]
			if !ok {
				i = len(targets)
				index[m[1]] = i
				targets = append(targets, LsTarget{IQN: m[1], Portal: m[2]})
			}
			cur = i
			continue
		}
		m := lsLUNRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if cur < 0 {
			return nil, fmt.Errorf("iscsi-ls output lists LUN %s before any target", m[1])
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n > maxLUN {
			return nil, fmt.Errorf("iscsi-ls output has an invalid LUN number %q", m[1])
		}
		l := LsLUN{LUN: n, Type: m[2], Size: -1}
		if m[3] != "" {
			v, err := strconv.ParseFloat(m[3], 64)
			if err == nil && v*unitBytes[m[4]] >= math.MaxInt64 {
				err = errors.New("too large")
			}
			if err != nil {
				return nil, fmt.Errorf("iscsi-ls output has an invalid size %q for LUN %d", m[3]+m[4], n)
			}
			l.Size = int64(v * unitBytes[m[4]])
		}
		t := &targets[cur]
		dup := false
		for _, have := range t.LUNs {
			dup = dup || have.LUN == n
		}
		if !dup {
			t.LUNs = append(t.LUNs, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading iscsi-ls output: %w", err)
	}
	return targets, nil
}

// ParseCapacity reads the output of `iscsi-readcapacity16 -s`: the size
// of the LUN in bytes.
func ParseCapacity(out []byte) (int64, error) {
	s := strings.TrimSpace(string(out))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("unexpected iscsi-readcapacity16 output %q: want a size in bytes", s)
	}
	return n, nil
}

// ParseInitiatorName reads open-iscsi's initiatorname.iscsi
// ("InitiatorName=iqn…" after comment lines); "" when it names none.
func ParseInitiatorName(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "InitiatorName="); ok {
			if v = strings.TrimSpace(v); validName(v) {
				return v
			}
		}
	}
	return ""
}

// maxLUN bounds LUN numbers to the flat addressing range of SAM (14
// bits); no target hands out more.
const maxLUN = 16383

// validName accepts iSCSI names (iqn., eui., naa.) as far as they can be
// put into a URL path and a command line safely: printable, no spaces,
// slashes, '%', '?', '#' or '@', and not starting with '-'.
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

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// URLPortal checks a storage.cfg portal (a host name, an IPv4 address or
// an IPv6 address, bracketed when a port follows, and an optional port)
// and returns it in the form libiscsi URLs and QEMU take: IPv6 addresses
// always in brackets.
func URLPortal(portal string) (string, error) {
	bad := fmt.Errorf("invalid portal %q: expected <host>[:<port>], <IPv6 address> or [<IPv6 address>]:<port>", portal)
	var host, port string
	switch {
	case strings.HasPrefix(portal, "["):
		end := strings.IndexByte(portal, ']')
		if end < 0 {
			return "", bad
		}
		host = portal[1:end]
		if rest := portal[end+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", bad
			}
			port = p
		}
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", bad
		}
		host = "[" + host + "]"
	case strings.Count(portal, ":") >= 2:
		if ip := net.ParseIP(portal); ip == nil || ip.To4() != nil {
			return "", bad
		}
		host = "[" + portal + "]"
	default:
		host, port, _ = strings.Cut(portal, ":")
		if net.ParseIP(host) == nil && !hostnameRE.MatchString(host) {
			return "", bad
		}
	}
	if port != "" || strings.HasSuffix(portal, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", bad
		}
		return host + ":" + port, nil
	}
	return host, nil
}
