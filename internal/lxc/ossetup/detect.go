package ossetup

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// Detect names the distribution installed under root as an ostype value.
// /etc/os-release decides when its ID is one ossetup knows; otherwise the
// distribution's own release files are tried. A tree that matches nothing
// is "unmanaged", which is not an error.
func Detect(root string) (string, error) {
	r, err := OpenRoot(root, IDShift{})
	if err != nil {
		return "", err
	}
	defer r.Close()
	return r.detect(), nil
}

// osRelease holds the parsed /etc/os-release of the container; nil when
// there is none.
func (r *RootFS) osRelease() map[string]string {
	for _, name := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if data, err := r.ReadFile(name); err == nil {
			return parseOSRelease(data)
		}
	}
	return nil
}

// osReleaseType maps an os-release ID to its ostype ("" if unknown).
// Rebuilds of RHEL are handled by the centos setup, as on Proxmox VE.
func osReleaseType(id string) string {
	switch id {
	case "debian", "ubuntu", "devuan", "alpine", "fedora", "gentoo", "nixos", "busybox":
		return id
	case "centos", "rhel", "rocky", "almalinux":
		return "centos"
	case "opensuse", "opensuse-leap", "opensuse-tumbleweed":
		return "opensuse"
	case "arch", "archlinux":
		return "archlinux"
	}
	return ""
}

func (r *RootFS) detect() string {
	if t := osReleaseType(r.osRelease()["ID"]); t != "" {
		return t
	}
	if data, err := r.ReadFile("/etc/lsb-release"); err == nil && parseOSRelease(data)["DISTRIB_ID"] == "Ubuntu" {
		return "ubuntu"
	}
	// Devuan also ships /etc/debian_version, so it is tested first.
	for _, c := range []struct{ file, ostype string }{
		{"/etc/devuan_version", "devuan"},
		{"/etc/debian_version", "debian"},
		{"/etc/fedora-release", "fedora"},
		{"/etc/redhat-release", "centos"},
		{"/etc/arch-release", "archlinux"},
		{"/etc/alpine-release", "alpine"},
		{"/etc/gentoo-release", "gentoo"},
		{"/etc/SuSE-release", "opensuse"},
		{"/etc/NIXOS", "nixos"},
	} {
		if r.Exists(c.file) {
			return c.ostype
		}
	}
	return "unmanaged"
}

// parseOSRelease reads the KEY=value format of os-release(5) and
// lsb-release: values may be bare, or quoted with ' or " (where a
// backslash escapes the next character). Malformed lines are skipped.
func parseOSRelease(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			continue
		}
		v, ok := unquoteShell(val)
		if !ok {
			continue
		}
		out[key] = v
	}
	return out
}

func unquoteShell(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	switch q := s[0]; q {
	case '\'':
		if len(s) < 2 || s[len(s)-1] != q {
			return "", false
		}
		return s[1 : len(s)-1], true
	case '"':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return b.String(), i == len(s)-1
			default:
				b.WriteByte(c)
			}
		}
		return "", false
	}
	return s, true
}

// version returns the container's distribution version as numbers
// ("22.04" → [22 4]); nil when unknown.
func (r *RootFS) version() []int {
	v := r.osRelease()["VERSION_ID"]
	if v == "" {
		if data, err := r.ReadFile("/etc/lsb-release"); err == nil {
			v = parseOSRelease(data)["DISTRIB_RELEASE"]
		}
	}
	var out []int
	for _, part := range strings.Split(v, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			break
		}
		out = append(out, n)
	}
	return out
}

// atLeast compares a version from version() with a wanted one.
func atLeast(have []int, want ...int) bool {
	for i, w := range want {
		h := 0
		if i < len(have) {
			h = have[i]
		}
		if h != w {
			return h > w
		}
	}
	return true
}
