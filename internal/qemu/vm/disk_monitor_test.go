package vm

import "testing"

func TestMonitorPrivilege(t *testing.T) {
	cases := map[string]string{
		"info version":                 "",
		"  info   block  ":             "",
		"help":                         "",
		"help info":                    "",
		"?":                            "",
		"quit":                         "Sys.Modify",
		"q":                            "Sys.Modify",
		"system_reset":                 "Sys.Modify",
		"sendkey ctrl-alt-f1":          "Sys.Modify",
		"block_resize drive-scsi0 2G":  "Sys.Modify",
		"migrate exec:cat>/etc/passwd": "root",
		"drive_add 0 file=/etc/shadow": "root",
		"dump-guest-memory /tmp/x":     "root",
		"information":                  "root", // not info: unknown commands are root's
		"no_such_command":              "root",
		"":                             "",
	}
	for cmd, want := range cases {
		if got := monitorPrivilege(cmd); got != want {
			t.Errorf("monitorPrivilege(%q) = %q, want %q", cmd, got, want)
		}
	}
}

func TestProtocolNodeOf(t *testing.T) {
	cases := map[string]string{
		"drive-scsi0":        "file-scsi0",
		"fmt-virtio1":        "file-virtio1",
		"drive-scsi0-ab12cd": "file-scsi0-ab12cd",
		"pflash0":            "",
	}
	for in, want := range cases {
		if got := protocolNodeOf(in); got != want {
			t.Errorf("protocolNodeOf(%q) = %q, want %q", in, got, want)
		}
	}
}
