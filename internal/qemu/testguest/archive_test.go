package testguest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The fixture is real `apt-cache depends --recurse` output of Debian 12
// for the three root packages.
func TestGuestPackagesFromAptCacheDepends(t *testing.T) {
	deps := parseDepends(readTestdata(t, "apt-cache-depends.txt"))
	if got := deps["qemu-guest-agent"]; !slices.Equal(got, []string{"libc6", "libglib2.0-0", "libnuma1", "libudev1", "liburing2"}) {
		t.Errorf("qemu-guest-agent depends on %q", got)
	}
	if got := deps["linux-image-6.1.0-56-amd64"]; !slices.Equal(got, []string{"kmod", "linux-base", "initramfs-tools"}) {
		t.Errorf("alternatives and virtual packages: kernel depends on %q", got)
	}
	for name := range deps {
		if strings.HasPrefix(name, "<") {
			t.Errorf("virtual package %s kept", name)
		}
	}
	got, err := guestPackages(deps)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"busybox-static", "gcc-12-base", "libblkid1", "libc6", "libffi8", "libgcc-s1", "libglib2.0-0",
		"libmount1", "libnuma1", "libpcre2-8-0", "libselinux1", "libudev1", "liburing2",
		"linux-image-6.1.0-56-amd64", "qemu-guest-agent", "zlib1g",
	}
	if !slices.Equal(got, want) {
		t.Errorf("guest packages\n got %q\nwant %q", got, want)
	}
}

func TestGuestPackagesNeedsTheRootPackages(t *testing.T) {
	full := parseDepends(readTestdata(t, "apt-cache-depends.txt"))
	tests := []struct {
		name string
		edit func(map[string][]string)
		want string
	}{
		{"no kernel", func(d map[string][]string) { delete(d, kernelMetapackage) }, "exactly one linux-image-*"},
		{"two kernels", func(d map[string][]string) {
			d[kernelMetapackage] = []string{"linux-image-6.1.0-1-amd64", "linux-image-6.1.0-2-amd64"}
		}, "exactly one linux-image-*"},
		{"no busybox", func(d map[string][]string) { delete(d, busyboxPackage) }, "no package busybox-static"},
		{"no agent", func(d map[string][]string) { delete(d, agentPackage) }, "no package qemu-guest-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deps := map[string][]string{}
			for k, v := range full {
				deps[k] = v
			}
			tt.edit(deps)
			_, err := guestPackages(deps)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrArchiveUnreachable) {
				t.Errorf("error %v, want ErrArchiveUnreachable with %q", err, tt.want)
			}
		})
	}
}

func TestParsePrintURIs(t *testing.T) {
	got, err := parsePrintURIs(readTestdata(t, "apt-get-print-uris.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []debPackage{
		{"busybox-static", "1:1.35.0-4+deb12u1+b1", "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb",
			"3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744"},
		{"libc6", "2.36-9+deb12u14", "libc6_2.36-9+deb12u14_amd64.deb",
			"ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf"},
		{"linux-image-6.1.0-56-amd64", "6.1.192-2", "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb",
			"a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1"},
		{"qemu-guest-agent", "1:7.2+dfsg-7+deb12u18+b3", "qemu-guest-agent_1%3a7.2+dfsg-7+deb12u18+b3_amd64.deb",
			"ffdc7852decec129a903acf1b9ac083859cabee60e7b24477b652f36e228e808"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("packages\n got %+v\nwant %+v", got, want)
	}
	if s := got[0].String(); s != "busybox-static=1:1.35.0-4+deb12u1+b1" {
		t.Errorf("apt-get download argument %q", s)
	}
}

func TestParsePrintURIsRefusesOddLines(t *testing.T) {
	for _, line := range []string{
		"'http://x/a.deb' a_1_amd64.deb 10",
		"'http://x/a.deb' a_1_amd64.deb 10 MD5Sum:abc",
		"'http://x/a.deb' a-1-amd64.deb 10 SHA256:" + strings.Repeat("0", 64),
		"'http://x/a.tar' a_1_amd64.tar 10 SHA256:" + strings.Repeat("0", 64),
		"'http://x/a.deb' a_%zz_amd64.deb 10 SHA256:" + strings.Repeat("0", 64),
	} {
		if pkgs, err := parsePrintURIs([]byte(line + "\n")); err == nil {
			t.Errorf("%q: accepted as %+v", line, pkgs)
		}
	}
	// Lines apt prints that are not URIs are ignored.
	if pkgs, err := parsePrintURIs([]byte("W: some warning\n\n")); err != nil || len(pkgs) != 0 {
		t.Errorf("warnings: %+v, %v", pkgs, err)
	}
}

func FuzzParsePrintURIs(f *testing.F) {
	f.Add(readTestdataF(f, "apt-get-print-uris.txt"))
	f.Add([]byte("'u' a_1%3a2_amd64.deb 1 SHA256:" + strings.Repeat("a", 64) + "\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		pkgs, err := parsePrintURIs(out)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if !debName.MatchString(p.Name) || !debVersion.MatchString(p.Version) || len(p.SHA256) != 64 || !strings.HasSuffix(p.File, ".deb") {
				t.Fatalf("accepted %+v", p)
			}
		}
	})
}

func FuzzParseDepends(f *testing.F) {
	f.Add(readTestdataF(f, "apt-cache-depends.txt"))
	f.Add([]byte("a\n |Depends: b\n  Depends: <c>\n    d\n<e>\n  Depends: f\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		for name, deps := range parseDepends(out) {
			if name == "" || strings.HasPrefix(name, "<") || strings.ContainsAny(name, " \t\n\v\f\r") {
				t.Fatalf("bad package name %q", name)
			}
			for _, d := range deps {
				if d == "" || strings.HasPrefix(d, "<") || strings.ContainsAny(d, " \t") {
					t.Fatalf("bad dependency %q of %s", d, name)
				}
			}
		}
	})
}

func readTestdataF(f *testing.F, name string) []byte {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return data
}

func TestAptErrorsAreSorted(t *testing.T) {
	exit := func(stderr string) error {
		return &runner.ExitError{Cmd: "apt-get download x", Code: 100, Stderr: stderr}
	}
	tests := []struct {
		name        string
		err         error
		classify    func(error) error
		stale       bool
		unreachable bool
	}{
		{"gone from the pool", exit("E: Failed to fetch http://deb/x.deb  404  Not Found [IP: 1.2.3.4 80]"), downloadError, true, false},
		{"no network", exit("E: Failed to fetch http://deb/x.deb  Temporary failure resolving 'deb'"), downloadError, false, true},
		{"other failure", exit("E: disk full"), downloadError, false, false},
		{"lists lack the package", exit("E: Unable to locate package qemu-guest-agent"), listsError, false, true},
		{"apt-cache without lists", exit("E: No packages found"), listsError, false, true},
		{"other lists failure", exit("E: Could not open lock file"), listsError, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.classify(tt.err)
			if errors.Is(err, errStaleLists) != tt.stale || errors.Is(err, ErrArchiveUnreachable) != tt.unreachable {
				t.Errorf("%v: stale %v, unreachable %v; want %v, %v", err,
					errors.Is(err, errStaleLists), errors.Is(err, ErrArchiveUnreachable), tt.stale, tt.unreachable)
			}
			if !strings.Contains(err.Error(), tt.err.Error()) {
				t.Errorf("%v lost the tool's message", err)
			}
		})
	}
}
