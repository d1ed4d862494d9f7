package lxcconf

import (
	"bytes"
	"regexp"
	"testing"
)

// lineRe is the shape of every line Build may write: a setting of LXC's
// own namespace, or a comment.
var lineRe = regexp.MustCompile(`^(lxc\.[A-Za-z0-9._-]+ =( [^\n]*)?|# [^\n]*)$`)

// FuzzBuildKeepsValuesOnTheirLine feeds free text into every string a CT
// config can carry and checks that it never changes the shape of the
// file: accepted values add no lines and every line is still a setting.
func FuzzBuildKeepsValuesOnTheirLine(f *testing.F) {
	f.Fuzz(func(t *testing.T, hostname, entrypoint, env, rawKey, rawValue, mountType, devPath string) {
		s := baseSpec()
		s.Hostname, s.Entrypoint = hostname, entrypoint
		s.Env = []string{env}
		s.Raw = []RawKey{{rawKey, rawValue}}
		s.Features.Mount = []string{mountType}
		s.Devices = []Device{{Path: devPath, Major: 1, Minor: 3}}
		out, err := Build(s)
		if err != nil {
			return
		}
		// The same spec with plain values has the same number of lines,
		// except that the default entrypoint writes no init line.
		plain := baseSpec()
		plain.Hostname, plain.Entrypoint = "h", "/bin/x"
		if entrypoint == "" || entrypoint == "/sbin/init" {
			plain.Entrypoint = ""
		}
		plain.Env = []string{"A=1"}
		plain.Raw = []RawKey{{"lxc.x", "1"}}
		plain.Features.Mount = []string{"nfs"}
		plain.Devices = []Device{{Path: "/dev/null", Major: 1, Minor: 3}}
		want, err := Build(plain)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
		if n := len(bytes.Split(bytes.TrimSuffix(want, []byte("\n")), []byte("\n"))); len(lines) != n {
			t.Fatalf("%d lines instead of %d:\n%s", len(lines), n, out)
		}
		for _, l := range lines {
			if !lineRe.Match(l) {
				t.Fatalf("line %q is not a setting:\n%s", l, out)
			}
		}
	})
}
