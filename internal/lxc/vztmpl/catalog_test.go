package vztmpl

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestSplitVersion(t *testing.T) {
	cases := []struct{ in, upstream, revision, err string }{
		{"1:1.35.0-4+deb12u1+b1", "1.35.0", "4+deb12u1+b1", ""},
		{"1.36.1-9", "1.36.1", "9", ""},
		{"2:1.0-rc1-3", "1.0-rc1", "3", ""},
		{"5.2", "5.2", "", ""},
		{"", "", "", "is not a Debian package version"},
		{"1.0 2", "", "", "is not a Debian package version"},
		{"x1.0", "", "", "is not a Debian package version"},
	}
	for _, c := range cases {
		up, rev, err := splitVersion(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("splitVersion(%q) = %q %q %v, want error %q", c.in, up, rev, err, c.err)
			}
			continue
		}
		if err != nil || up != c.upstream || rev != c.revision {
			t.Errorf("splitVersion(%q) = %q %q %v, want %q %q", c.in, up, rev, err, c.upstream, c.revision)
		}
	}
}

func TestTemplateFileNames(t *testing.T) {
	cases := []struct{ got, want string }{
		{busyboxFile("1.35.0", "4+deb12u1+b1", ".tar.zst"), "busybox-1.35.0-4+deb12u1+b1_amd64.tar.zst"},
		{busyboxFile("1.36.1", "", ".tar.gz"), "busybox-1.36.1_amd64.tar.gz"},
		{debianFile("12.15", ".tar.zst"), "debian-12-standard_12.15-1_amd64.tar.zst"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
		// A storage lists a template only under these endings.
		if compressionByName(c.got) == "" {
			t.Errorf("%q has no template suffix", c.got)
		}
	}
}

func TestBuildRefusesUnknownNamesAndMissingDirectories(t *testing.T) {
	b := Builder{CacheDir: t.TempDir()}
	cases := []struct{ name, out, want string }{
		{"alpine", t.TempDir(), `unknown template "alpine": this node can build busybox, debian`},
		{Busybox, "/nonexistent/hearth-vztmpl", "output directory"},
	}
	for _, c := range cases {
		_, err := b.Build(context.Background(), c.name, c.out, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%q, %q) = %v, want %q", c.name, c.out, err, c.want)
		}
	}
}

func TestAvailableListsBothTemplates(t *testing.T) {
	infos := Builder{CacheDir: t.TempDir()}.Available()
	if len(infos) != 2 || infos[0].Name != Busybox || infos[1].Name != Debian {
		t.Fatalf("Available() = %+v", infos)
	}
	for _, in := range infos {
		if in.Section != "system" || in.Type != "lxc" || in.Description == "" || in.OS == "" {
			t.Errorf("incomplete %+v", in)
		}
		// File is known where apt knows the packages; when it is, it
		// must be a name Build can produce.
		if in.File != "" && (!strings.HasPrefix(in.File, in.Name+"-") || compressionByName(in.File) == "") {
			t.Errorf("%s: file %q", in.Name, in.File)
		}
	}
}

func TestDefaultCacheDirFollowsTheEnvironment(t *testing.T) {
	t.Setenv("HEARTH_VZTMPL_CACHE", "/srv/cache/x")
	if got := DefaultCacheDir(); got != "/srv/cache/x" {
		t.Errorf("DefaultCacheDir() = %q", got)
	}
	os.Unsetenv("HEARTH_VZTMPL_CACHE")
	if got := DefaultCacheDir(); got == "" || got == "/srv/cache/x" {
		t.Errorf("DefaultCacheDir() without the variable = %q", got)
	}
}
