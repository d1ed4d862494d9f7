package ossetup

import (
	"slices"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"debian os-release", map[string]string{"etc/os-release": debianOSRelease, "etc/debian_version": "12\n"}, "debian"},
		{"ubuntu", map[string]string{"etc/os-release": "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n"}, "ubuntu"},
		{"devuan beats debian_version", map[string]string{"etc/os-release": "ID=devuan\n", "etc/debian_version": "x"}, "devuan"},
		{"alpine", map[string]string{"etc/os-release": "ID=alpine\nVERSION_ID=3.19.1\n"}, "alpine"},
		{"fedora", map[string]string{"etc/os-release": "ID=fedora\n"}, "fedora"},
		{"rocky is centos", map[string]string{"etc/os-release": `ID="rocky"` + "\n"}, "centos"},
		{"almalinux is centos", map[string]string{"etc/os-release": "ID='almalinux'\n"}, "centos"},
		{"opensuse leap", map[string]string{"etc/os-release": "ID=\"opensuse-leap\"\n"}, "opensuse"},
		{"arch", map[string]string{"etc/os-release": "ID=arch\n"}, "archlinux"},
		{"gentoo", map[string]string{"etc/os-release": "ID=gentoo\n"}, "gentoo"},
		{"nixos", map[string]string{"etc/os-release": "ID=nixos\n"}, "nixos"},
		{"hearth busybox", map[string]string{"etc/os-release": "ID=busybox\n"}, "busybox"},
		{"os-release symlink into usr/lib", map[string]string{"etc/os-release": "-> ../usr/lib/os-release", "usr/lib/os-release": "ID=alpine\n"}, "alpine"},
		{"usr/lib/os-release alone", map[string]string{"usr/lib/os-release": "ID=fedora\n"}, "fedora"},
		{"unknown ID falls back to release files", map[string]string{"etc/os-release": "ID=kali\n", "etc/debian_version": "x"}, "debian"},
		{"lsb-release ubuntu", map[string]string{"etc/lsb-release": "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\n", "etc/debian_version": "x"}, "ubuntu"},
		{"debian_version", map[string]string{"etc/debian_version": "8.11\n"}, "debian"},
		{"devuan_version", map[string]string{"etc/devuan_version": "x", "etc/debian_version": "x"}, "devuan"},
		{"fedora-release", map[string]string{"etc/fedora-release": "x", "etc/redhat-release": "x"}, "fedora"},
		{"redhat-release", map[string]string{"etc/redhat-release": "CentOS release 6\n"}, "centos"},
		{"arch-release", map[string]string{"etc/arch-release": ""}, "archlinux"},
		{"alpine-release", map[string]string{"etc/alpine-release": "3.4\n"}, "alpine"},
		{"gentoo-release", map[string]string{"etc/gentoo-release": "x"}, "gentoo"},
		{"nothing known", map[string]string{"etc/os-release": "ID=plan9\n"}, "unmanaged"},
		{"empty tree", map[string]string{"etc/": ""}, "unmanaged"},
		// The host is a Debian system; a link to its files must resolve
		// inside the container, where there is nothing.
		{"absolute link to the host's os-release", map[string]string{"etc/os-release": "-> /etc/os-release"}, "unmanaged"},
		{"dot-dot link to the host's os-release", map[string]string{"etc/os-release": "-> ../../../../../../../../etc/os-release"}, "unmanaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			makeTree(t, root, c.files)
			got, err := Detect(root)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Detect = %q, want %q", got, c.want)
			}
		})
	}
}

func TestDetectMissingRoot(t *testing.T) {
	if _, err := Detect(t.TempDir() + "/missing"); err == nil {
		t.Error("no error for a missing root")
	}
}

func TestVersion(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  []int
	}{
		{map[string]string{"etc/os-release": "VERSION_ID=\"22.04\"\n"}, []int{22, 4}},
		{map[string]string{"etc/os-release": "VERSION_ID=12\n"}, []int{12}},
		{map[string]string{"etc/os-release": "VERSION_ID=3.19.1\n"}, []int{3, 19, 1}},
		{map[string]string{"etc/lsb-release": "DISTRIB_RELEASE=17.10\n"}, []int{17, 10}},
		{map[string]string{"etc/os-release": "ID=arch\n"}, nil},
	}
	for _, c := range cases {
		root := t.TempDir()
		makeTree(t, root, c.files)
		r, err := OpenRoot(root, IDShift{})
		if err != nil {
			t.Fatal(err)
		}
		got := r.version()
		r.Close()
		if !slices.Equal(got, c.want) {
			t.Errorf("%v: version %v, want %v", c.files, got, c.want)
		}
	}
	for _, c := range []struct {
		have, want []int
		ok         bool
	}{
		{[]int{17, 10}, []int{17, 10}, true},
		{[]int{18}, []int{17, 10}, true},
		{[]int{17, 4}, []int{17, 10}, false},
		{[]int{16, 10}, []int{17, 10}, false},
		{nil, []int{17, 10}, false},
	} {
		if got := atLeast(c.have, c.want...); got != c.ok {
			t.Errorf("atLeast(%v, %v) = %v", c.have, c.want, got)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	in := "# comment\n" +
		"ID=debian\n" +
		"NAME=\"Debian \\\"GNU\\\"/Linux\"\n" +
		"SINGLE='it is $quoted'\n" +
		"EMPTY=\n" +
		"  SPACED=yes  \n" +
		"BROKEN=\"unterminated\n" +
		"BAD KEY=1\n" +
		"noequals\n"
	got := parseOSRelease([]byte(in))
	want := map[string]string{
		"ID":     "debian",
		"NAME":   `Debian "GNU"/Linux`,
		"SINGLE": "it is $quoted",
		"EMPTY":  "",
		"SPACED": "yes",
	}
	if len(got) != len(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add(debianOSRelease)
	f.Fuzz(func(t *testing.T, in string) {
		for k := range parseOSRelease([]byte(in)) {
			if k == "" || strings.ContainsAny(k, " \t\n=") {
				t.Fatalf("bad key %q from %q", k, in)
			}
		}
	})
}
