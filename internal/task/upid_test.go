package task

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want UPID
		// canonical is what String prints; empty means the input itself.
		canonical string
	}{
		{
			name: "typical",
			in:   "UPID:pve1:0000A1B2:0001F3C4:65A1B2C3:qmstart:100:root@pam:",
			want: UPID{Node: "pve1", PID: 0xA1B2, PStart: 0x1F3C4, StartTime: 0x65A1B2C3, Type: "qmstart", ID: "100", User: "root@pam"},
		},
		{
			name: "empty id",
			in:   "UPID:node-2:00000001:00000002:00000003:aptupdate::root@pam:",
			want: UPID{Node: "node-2", PID: 1, PStart: 2, StartTime: 3, Type: "aptupdate", User: "root@pam"},
		},
		{
			name: "api token user",
			in:   "UPID:n:FFFFFFFF:FFFFFFFF:FFFFFFFF:vzdump:101:backup@pve!nightly:",
			want: UPID{Node: "n", PID: 0xFFFFFFFF, PStart: 0xFFFFFFFF, StartTime: 0xFFFFFFFF, Type: "vzdump", ID: "101", User: "backup@pve!nightly"},
		},
		{
			name:      "lower-case hex",
			in:        "UPID:pve1:0000a1b2:0001f3c4:65a1b2c3:qmstart:100:root@pam:",
			want:      UPID{Node: "pve1", PID: 0xA1B2, PStart: 0x1F3C4, StartTime: 0x65A1B2C3, Type: "qmstart", ID: "100", User: "root@pam"},
			canonical: "UPID:pve1:0000A1B2:0001F3C4:65A1B2C3:qmstart:100:root@pam:",
		},
		{
			name: "nine digit pstart",
			in:   "UPID:pve1:00000001:123456789:00000003:qmigrate:100:root@pam:",
			want: UPID{Node: "pve1", PID: 1, PStart: 0x123456789, StartTime: 3, Type: "qmigrate", ID: "100", User: "root@pam"},
		},
		{
			name:      "nine digit pstart with leading zero",
			in:        "UPID:pve1:00000001:012345678:00000003:qmigrate:100:root@pam:",
			want:      UPID{Node: "pve1", PID: 1, PStart: 0x12345678, StartTime: 3, Type: "qmigrate", ID: "100", User: "root@pam"},
			canonical: "UPID:pve1:00000001:12345678:00000003:qmigrate:100:root@pam:",
		},
		{
			name: "id with slashes and dots",
			in:   "UPID:pve1:00000001:00000002:00000003:imgcopy:local/iso/x.iso:root@pam:",
			want: UPID{Node: "pve1", PID: 1, PStart: 2, StartTime: 3, Type: "imgcopy", ID: "local/iso/x.iso", User: "root@pam"},
		},
		{
			name: "numeric node",
			in:   "UPID:1:00000001:00000002:00000003:t:i:u:",
			want: UPID{Node: "1", PID: 1, PStart: 2, StartTime: 3, Type: "t", ID: "i", User: "u"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Parse = %+v, want %+v", got, tt.want)
			}
			want := tt.canonical
			if want == "" {
				want = tt.in
			}
			if s := got.String(); s != want {
				t.Errorf("String = %q, want %q", s, want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name, in, wantMsg string
	}{
		{"empty", "", "must start with"},
		{"no tag", "pve1:00000001:00000002:00000003:t:i:u:", "must start with"},
		{"lower-case tag", "upid:pve1:00000001:00000002:00000003:t:i:u:", "must start with"},
		{"no trailing colon", "UPID:pve1:00000001:00000002:00000003:t:i:u", "fields"},
		{"extra field", "UPID:pve1:00000001:00000002:00000003:t:i:u:x:", "fields"},
		{"text after trailing colon", "UPID:pve1:00000001:00000002:00000003:t:i:u:x", "must end with"},
		{"empty node", "UPID::00000001:00000002:00000003:t:i:u:", "node"},
		{"node starts with hyphen", "UPID:-pve:00000001:00000002:00000003:t:i:u:", "node"},
		{"node ends with hyphen", "UPID:pve-:00000001:00000002:00000003:t:i:u:", "node"},
		{"node with dot", "UPID:pve.example:00000001:00000002:00000003:t:i:u:", "node"},
		{"short pid", "UPID:pve1:0001:00000002:00000003:t:i:u:", "pid"},
		{"long pid", "UPID:pve1:000000001:00000002:00000003:t:i:u:", "pid"},
		{"pid not hex", "UPID:pve1:0000000G:00000002:00000003:t:i:u:", "pid"},
		{"pid with sign", "UPID:pve1:+0000001:00000002:00000003:t:i:u:", "pid"},
		{"short pstart", "UPID:pve1:00000001:0000002:00000003:t:i:u:", "pstart"},
		{"ten digit pstart", "UPID:pve1:00000001:0000000002:00000003:t:i:u:", "pstart"},
		{"starttime 9 digits", "UPID:pve1:00000001:00000002:000000003:t:i:u:", "starttime"},
		{"starttime with 0x", "UPID:pve1:00000001:00000002:0x000003:t:i:u:", "starttime"},
		{"empty type", "UPID:pve1:00000001:00000002:00000003::i:u:", "type"},
		{"type with space", "UPID:pve1:00000001:00000002:00000003:qm start:i:u:", "type"},
		{"id with tab", "UPID:pve1:00000001:00000002:00000003:t:1\t0:u:", "id"},
		{"empty user", "UPID:pve1:00000001:00000002:00000003:t:i::", "user"},
		{"user with newline", "UPID:pve1:00000001:00000002:00000003:t:i:ro\not:", "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.in, u)
			}
			if !errors.Is(err, ErrInvalidUPID) {
				t.Errorf("error %v does not wrap ErrInvalidUPID", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if u != (UPID{}) {
				t.Errorf("Parse returned %+v with its error, want zero UPID", u)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := UPID{Node: "pve1", PID: 1, PStart: 2, StartTime: 3, Type: "t", User: "u"}
	tests := []struct {
		name   string
		mutate func(*UPID)
		want   string // "" means valid
	}{
		{"valid", func(*UPID) {}, ""},
		{"bad node", func(u *UPID) { u.Node = "a_b" }, "node"},
		{"pstart too big", func(u *UPID) { u.PStart = 0x1000000000 }, "pstart"},
		{"negative starttime", func(u *UPID) { u.StartTime = -1 }, "starttime"},
		{"starttime too big", func(u *UPID) { u.StartTime = 0x100000000 }, "starttime"},
		{"empty type", func(u *UPID) { u.Type = "" }, "type"},
		{"colon in id", func(u *UPID) { u.ID = "a:b" }, "id"},
		{"space in user", func(u *UPID) { u.User = "a b" }, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ok
			tt.mutate(&u)
			err := u.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want error about %s", err, tt.want)
			case tt.want != "":
				if _, perr := Parse(u.String()); perr == nil {
					t.Errorf("Parse accepted %q although Validate refused it", u.String())
				}
			}
		})
	}
}

// FuzzParseUPID checks that Parse never panics and that what it accepts
// prints canonically and parses back to the same value.
func FuzzParseUPID(f *testing.F) {
	f.Add("UPID:pve1:0000A1B2:0001F3C4:65A1B2C3:qmstart:100:root@pam:")
	f.Add("UPID:pve1:00000001:123456789:00000003:qmigrate::root@pam:")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			return
		}
		if err := u.Validate(); err != nil {
			t.Fatalf("Parse(%q) gave %+v which fails Validate: %v", s, u, err)
		}
		c := u.String()
		u2, err := Parse(c)
		if err != nil {
			t.Fatalf("Parse(String()) of %q: %v", c, err)
		}
		if u2 != u {
			t.Fatalf("round trip changed %+v to %+v", u, u2)
		}
		if c2 := u2.String(); c2 != c {
			t.Fatalf("String not stable: %q then %q", c, c2)
		}
	})
}
