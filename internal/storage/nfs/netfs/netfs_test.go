package netfs

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testdata/mountinfo-host is this machine's mount table (first lines)
// plus network file system lines written from proc(5)'s format and the
// sources the kernel prints for nfs, cifs, ceph and glusterfs mounts: the
// kernel here has none of these clients.
func TestParseMountInfo(t *testing.T) {
	data, err := os.ReadFile("testdata/mountinfo-host")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := ParseMountInfo(data)
	if err != nil {
		t.Fatal(err)
	}
	byPoint := map[string]Mount{}
	for _, m := range mounts {
		byPoint[m.Point] = m
	}
	for _, tc := range []struct {
		point, fstype, source, superOpt string
		id, parent                      int
	}{
		{"/", "ext4", "/dev/vda", "rw,discard,resv_strict,resuid=65534,resgid=65534", 26, 1},
		{"/mnt/pve/iso-templates", "nfs4", "10.0.0.10:/space/iso-templates", "", 112, 26},
		{"/mnt/pve/with space", "nfs", "[fd00::10]:/export", "rw,vers=3,addr=fd00::10", 113, 26},
		{"/mnt/pve/backup", "cifs", "//10.0.0.11/VMData/data", "", 114, 26},
		{"/mnt/pve/cephfs", "ceph", "10.1.1.20:6789,10.1.1.21:6789,10.1.1.22:6789:/", "", 115, 26},
		{"/mnt/pve/gluster", "fuse.glusterfs", "10.0.0.20:gv0", "", 116, 26},
	} {
		m, ok := byPoint[tc.point]
		if !ok {
			t.Errorf("no entry for %s", tc.point)
			continue
		}
		if m.FSType != tc.fstype || m.Source != tc.source || m.ID != tc.id || m.Parent != tc.parent {
			t.Errorf("%s: got %+v", tc.point, m)
		}
		if tc.superOpt != "" && m.SuperOptions != tc.superOpt {
			t.Errorf("%s: super options %q, want %q", tc.point, m.SuperOptions, tc.superOpt)
		}
	}
	if got := byPoint["/mnt/pve/backup"].Options; got != "rw,relatime" {
		t.Errorf("per-mount options with optional fields after them: %q", got)
	}
}

func TestParseMountInfoMalformed(t *testing.T) {
	for _, bad := range []string{
		"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw", // no separator
		"x 35 98:0 / /mnt rw - ext3 /dev/root rw",                      // id not a number
		"36 35 98:0 / /mnt rw -",                                       // nothing after the separator
	} {
		if _, err := ParseMountInfo([]byte(bad)); err == nil {
			t.Errorf("ParseMountInfo(%q) succeeded", bad)
		}
	}
	if m, err := ParseMountInfo([]byte("\n\n")); err != nil || len(m) != 0 {
		t.Errorf("empty table: %v, %v", m, err)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/a\040b`:  "/mnt/a b",
		`/mnt/tab\011`: "/mnt/tab\t",
		`/back\134sl`:  `/back\sl`,
		`/plain`:       "/plain",
		`/short\04`:    `/short\04`,
		`/notoctal\9x`: `/notoctal\9x`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAtResolvesSymlinkedParent(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	mounts := []Mount{{Point: filepath.Join(real, "store"), FSType: "nfs"}}
	if got := At(mounts, filepath.Join(link, "store")); len(got) != 1 {
		t.Errorf("At through a symlinked parent found %v", got)
	}
	if got := At(mounts, filepath.Join(link, "other")); len(got) != 0 {
		t.Errorf("At found %v for another point", got)
	}
	if got := At(mounts, filepath.Join(real, "store")+"/"); len(got) != 1 {
		t.Errorf("At with a trailing slash found %v", got)
	}
}

func TestWriteSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	p := filepath.Join(dir, "s1.pw")
	for _, content := range []string{"password=first\n", "password=second\n"} {
		if err := WriteSecret(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("secret file mode: %v, %v", st.Mode(), err)
		}
		if got, _ := os.ReadFile(p); string(got) != content {
			t.Fatalf("secret file holds %q, want %q", got, content)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode %v, want 0700", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestBracketIPv6(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1": "10.0.0.1", "fd00::1": "[fd00::1]", "nas.example": "nas.example"} {
		if got := BracketIPv6(in); got != want {
			t.Errorf("BracketIPv6(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTCPPing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	ctx := context.Background()
	if err := TCPPing(ctx, nil, "127.0.0.1", port, time.Second); err != nil {
		t.Errorf("ping of a listening port: %v", err)
	}
	l.Close()
	if err := TCPPing(ctx, nil, "127.0.0.1", port, time.Second); err == nil {
		t.Error("ping of a closed port succeeded")
	}
	refuse := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no route") }
	if err := TCPPing(ctx, refuse, "10.0.0.1", 24007, time.Second); err == nil {
		t.Error("ping through a refusing dialer succeeded")
	}
}

func TestOfflineError(t *testing.T) {
	cause := errors.New("clnt_create: RPC: Port mapper failure")
	err := error(&OfflineError{Storage: "nas", Err: cause})
	if !errors.Is(err, ErrOffline) || !errors.Is(err, cause) {
		t.Errorf("OfflineError does not match ErrOffline and its cause")
	}
	if got, want := err.Error(), "storage 'nas' is not online: clnt_create: RPC: Port mapper failure"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
