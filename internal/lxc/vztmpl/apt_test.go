package vztmpl

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// Output of apt-get download --print-uris on Debian 12.
const printURIs = `'http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1%3a1.35.0-4%2bdeb12u1%2bb1_amd64.deb' busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb 928188 SHA256:` +
	"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n"

func TestParsePrintURIs(t *testing.T) {
	debs, err := parsePrintURIs([]byte("Reading package lists...\n" + printURIs))
	if err != nil {
		t.Fatal(err)
	}
	want := debFile{Name: "busybox-static", Version: "1:1.35.0-4+deb12u1+b1",
		File:   "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb",
		SHA256: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"}
	if len(debs) != 1 || debs[0] != want {
		t.Fatalf("got %+v, want %+v", debs, want)
	}
	bad := []struct{ line, want string }{
		{"'u' f.deb 1\n", "unexpected apt-get --print-uris line"},
		{"'u' f_1_amd64.deb 1 MD5Sum:00\n", "has no SHA256 digest"},
		{"'u' f_amd64.deb 1 SHA256:" + strings.Repeat("a", 64) + "\n", "is not NAME_VERSION_ARCH.deb"},
		{"'u' foo_x1_amd64.deb 1 SHA256:" + strings.Repeat("a", 64) + "\n", "has no valid version"},
	}
	for _, c := range bad {
		if _, err := parsePrintURIs([]byte(c.line)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parsePrintURIs(%q) = %v, want %q", c.line, err, c.want)
		}
	}
}

func FuzzParsePrintURIs(f *testing.F) {
	f.Add([]byte(printURIs))
	f.Fuzz(func(t *testing.T, data []byte) {
		debs, err := parsePrintURIs(data)
		if err != nil {
			return
		}
		for _, d := range debs {
			if !debName.MatchString(d.Name) || !debVersion.MatchString(d.Version) || len(d.SHA256) != 64 {
				t.Fatalf("accepted %+v", d)
			}
			// The file name is used as a path in the cache directory.
			if strings.Contains(d.File, "/") || path.Clean(d.File) != d.File || d.File == ".." {
				t.Fatalf("file name %q is not a plain name", d.File)
			}
		}
	})
}

func TestFailedAptCallsAreSorted(t *testing.T) {
	cases := []struct {
		msg         string
		sort        func(error) error
		unreachable bool
		stale       bool
	}{
		{"E: Unable to locate package busybox-static", listsError, true, false},
		{"E: Failed to fetch http://deb.debian.org/x  404  Not Found [IP: 1.2.3.4 80]", downloadError, false, true},
		{"E: Failed to fetch http://deb.debian.org/x  Could not connect", downloadError, true, false},
		{"E: Something else", downloadError, false, false},
	}
	for _, c := range cases {
		err := c.sort(errors.New(c.msg))
		if errors.Is(err, ErrArchiveUnreachable) != c.unreachable || isStale(err) != c.stale {
			t.Errorf("%q sorted as %v", c.msg, err)
		}
	}
}
