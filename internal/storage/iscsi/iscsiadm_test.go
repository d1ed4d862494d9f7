package iscsi

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSessions(t *testing.T) {
	got := ParseSessions([]byte(fixture(t, "session.txt")))
	want := []Session{
		{ID: "1", Portal: "127.0.0.1:3260", Target: testIQN},
		{ID: "2", Portal: "10.10.10.1:3260", Target: "iqn.2003-01.org.linux-iscsi.nas.x8664:sn.00567885ba8f"},
		{ID: "3", Portal: "[fd00::5]:3260", Target: testIQN},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSessions = %+v\nwant %+v", got, want)
	}
	for _, in := range []string{
		"",
		fixture(t, "no-sessions.stderr"),
		"iser: [1] 10.0.0.1:3260,1 iqn.a:b (non-flash)\n",
		"tcp: [1] host.example:3260,1 iqn.a:b (non-flash)\n",
		"tcp: [1] 10.0.0.1:3260,1 iqn/../x (non-flash)\n",
		"tcp: [1] 10.0.0.1,1 iqn.a:b (non-flash)\n",
	} {
		if got := ParseSessions([]byte(in)); len(got) != 0 {
			t.Errorf("ParseSessions(%q) = %+v, want none", in, got)
		}
	}
	// Older iscsiadm prints no "(non-flash)".
	if got := ParseSessions([]byte("tcp: [7] 10.0.0.1:3260,1 iqn.a:b\n")); len(got) != 1 || got[0].ID != "7" {
		t.Errorf("ParseSessions without the flash marker = %+v", got)
	}
}

func TestParseNodes(t *testing.T) {
	got := ParseNodes([]byte(fixture(t, "node.txt")))
	want := []Node{
		{Portal: "10.10.10.1:3260", Target: "iqn.2003-01.org.linux-iscsi.nas.x8664:sn.00567885ba8f"},
		{Portal: "127.0.0.1:3260", Target: testIQN},
		{Portal: "[fd00::5]:3260", Target: testIQN},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseNodes = %+v\nwant %+v", got, want)
	}
	got = ParseNodes([]byte(fixture(t, "discovery.txt")))
	if len(got) != 2 || got[1].Target != otherIQN {
		t.Errorf("ParseNodes(discovery) = %+v", got)
	}
	for _, in := range []string{"", fixture(t, "no-records.stderr"), "fd00::5:3260,1 iqn.a:b\n", "10.0.0.1:70000,1 iqn.a:b\n"} {
		if got := ParseNodes([]byte(in)); len(got) != 0 {
			t.Errorf("ParseNodes(%q) = %+v, want none", in, got)
		}
	}
}

func TestWithPort(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":       "10.0.0.1:3260",
		"10.0.0.1:3261":  "10.0.0.1:3261",
		"fd00::1":        "[fd00::1]:3260",
		"[fd00::1]:3262": "[fd00::1]:3262",
		"nas.example":    "nas.example:3260",
	} {
		if got := withPort(in); got != want {
			t.Errorf("withPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseSessions checks that any iscsiadm output gives only sessions
// whose portal and target are safe to pass back to iscsiadm.
func FuzzParseSessions(f *testing.F) {
	f.Add([]byte(fixture(f, "session.txt")))
	f.Add([]byte(fixture(f, "node.txt")))
	f.Add([]byte("tcp: [1] [::1]:3260,1 iqn.a:b\ntcp: [x y] 1.2.3.4:1,1 t\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		for _, s := range ParseSessions(out) {
			if s.ID == "" || strings.ContainsAny(s.ID, " \t\n") || !validPortal(s.Portal) || !validName(s.Target) {
				t.Fatalf("bad session %+v from %q", s, out)
			}
		}
		for _, n := range ParseNodes(out) {
			if !validPortal(n.Portal) || !validName(n.Target) {
				t.Fatalf("bad node %+v from %q", n, out)
			}
		}
	})
}
