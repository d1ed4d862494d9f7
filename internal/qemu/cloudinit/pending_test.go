package cloudinit

import (
	"maps"
	"slices"
	"testing"
)

func TestRows(t *testing.T) {
	built := map[string]string{
		"name": "a", "ciuser": "u", "cipassword": "$6$old", "ipconfig0": "ip=dhcp", "ipconfig10": "ip6=auto",
		"net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0", "net1": "virtio=bc:24:11:00:00:02", "sshkeys": "k",
	}
	current := map[string]string{
		"name": "a", "ciuser": "u2", "cipassword": "$6$new", "ipconfig0": "ip=dhcp", "ipconfig10": "ip6=dhcp",
		// net0: only the bridge changed, which the drive does not carry.
		"net0": "virtio=bc:24:11:00:00:01,bridge=vmbr1", "net1": "virtio=bc:24:11:00:00:03",
		"net2": "virtio=bc:24:11:00:00:04", "nameserver": "192.0.2.53",
		"memory": "2048", "ostype": "l26", // not cloud-init keys
	}
	want := []Row{
		{Key: "cipassword", Value: PasswordMask, Pending: PasswordMask},
		{Key: "ciuser", Value: "u", Pending: "u2"},
		{Key: "ipconfig0", Value: "ip=dhcp"},
		{Key: "ipconfig10", Value: "ip6=auto", Pending: "ip6=dhcp"},
		{Key: "name", Value: "a"},
		{Key: "nameserver", Pending: "192.0.2.53"},
		{Key: "net0", Value: "virtio=bc:24:11:00:00:01,bridge=vmbr1"},
		{Key: "net1", Value: "virtio=bc:24:11:00:00:02", Pending: "virtio=bc:24:11:00:00:03"},
		{Key: "net2", Pending: "virtio=bc:24:11:00:00:04"},
		{Key: "sshkeys", Value: "k", Delete: true},
	}
	if got := Rows(built, current); !slices.Equal(got, want) {
		t.Errorf("Rows =\n%+v\nwant\n%+v", got, want)
	}
	wantKeys := []string{"cipassword", "ciuser", "ipconfig10", "nameserver", "net1", "net2", "sshkeys"}
	if got := PendingChanges(built, current); !slices.Equal(got, wantKeys) {
		t.Errorf("PendingChanges = %q, want %q", got, wantKeys)
	}
	if got := PendingChanges(current, current); len(got) != 0 {
		t.Errorf("a config compared with itself has pending %q", got)
	}
	// An unchanged password is still masked.
	if rows := Rows(map[string]string{"cipassword": "x"}, map[string]string{"cipassword": "x"}); rows[0] != (Row{Key: "cipassword", Value: PasswordMask}) {
		t.Errorf("unchanged password row %+v", rows[0])
	}
}

func TestRecorded(t *testing.T) {
	conf := map[string]string{
		"name": "a", "citype": "nocloud", "ciupgrade": "0", "cicustom": "user=local:snippets/u", "searchdomain": "x",
		"net3": "virtio=bc:24:11:00:00:01", "ipconfig3": "ip=dhcp", "memory": "1024", "ostype": "l26", "netx": "y", "scsi0": "z",
	}
	want := maps.Clone(conf)
	for _, k := range []string{"memory", "ostype", "netx", "scsi0"} {
		delete(want, k)
	}
	if got := Recorded(conf); !maps.Equal(got, want) {
		t.Errorf("Recorded = %v, want %v", got, want)
	}
}
