package runner

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

var _ Runner = (*Recorder)(nil)
var _ Runner = Exec{}

func TestRecorderAnswersExactLines(t *testing.T) {
	r := (&Recorder{}).
		On("lvs --noheadings pve", "  data pve twi-aotz--\n").
		On("vgs pve", "  pve 1 3 0 wz--n-\n")
	ctx := context.Background()
	res, err := r.Run(ctx, Cmd{Name: "lvs", Args: []string{"--noheadings", "pve"}})
	if err != nil || string(res.Stdout) != "  data pve twi-aotz--\n" {
		t.Fatalf("lvs: %q, %v", res.Stdout, err)
	}
	// Answers are not used up.
	for range 2 {
		if res, err := r.Run(ctx, Cmd{Name: "vgs", Args: []string{"pve"}}); err != nil || string(res.Stdout) != "  pve 1 3 0 wz--n-\n" {
			t.Fatalf("vgs: %q, %v", res.Stdout, err)
		}
	}
	want := []string{"lvs --noheadings pve", "vgs pve", "vgs pve"}
	if got := r.Lines(); !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func TestRecorderRefusesUnplannedCommands(t *testing.T) {
	r := (&Recorder{}).On("lvs pve", "")
	for _, c := range []Cmd{
		{Name: "lvs"}, // a prefix of a planned line
		{Name: "lvs", Args: []string{"pve", "extra"}},   // a planned line is a prefix of it
		{Name: "lvremove", Args: []string{"-f", "pve"}}, // nothing planned
		{Name: "lvs", Args: []string{"pve x"}},          // quoted differently
	} {
		_, err := r.Run(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), c.String()) {
			t.Errorf("%s: %v; want an error naming the command", c, err)
		}
	}
	// Refused commands are recorded too, so a test sees what was tried.
	if got := len(r.Lines()); got != 4 {
		t.Fatalf("%d lines recorded, want 4", got)
	}
}

func TestRecorderMatchesInOrderOfRegistration(t *testing.T) {
	r := (&Recorder{}).
		On("zfs list -H rpool/data", "exact\n").
		OnPrefix("zfs list", "prefix\n")
	ctx := context.Background()
	for _, tc := range []struct {
		cmd  Cmd
		want string
	}{
		{Cmd{Name: "zfs", Args: []string{"list", "-H", "rpool/data"}}, "exact\n"},
		{Cmd{Name: "zfs", Args: []string{"list", "-H", "-o", "name", "rpool"}}, "prefix\n"},
		{Cmd{Name: "zfs", Args: []string{"list"}}, "prefix\n"},
	} {
		res, err := r.Run(ctx, tc.cmd)
		if err != nil || string(res.Stdout) != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.cmd, res.Stdout, err, tc.want)
		}
	}
	if _, err := r.Run(ctx, Cmd{Name: "zfs", Args: []string{"get"}}); err == nil {
		t.Error("zfs get matched the prefix zfs list")
	}

	// The first registered answer wins, even when a later one is exact.
	r = (&Recorder{}).OnPrefix("rbd", "any\n").On("rbd ls", "exact\n")
	if res, _ := r.Run(ctx, Cmd{Name: "rbd", Args: []string{"ls"}}); string(res.Stdout) != "any\n" {
		t.Errorf("got %q, want the first registered answer", res.Stdout)
	}
}

func TestRecorderFailLooksLikeARealFailure(t *testing.T) {
	r := (&Recorder{}).Fail("vgs nosuchvg", 5, "  Volume group \"nosuchvg\" not found\n")
	res, err := r.Run(context.Background(), Cmd{Name: "vgs", Args: []string{"nosuchvg"}})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v (%T), want an *ExitError", err, err)
	}
	if ee.Code != 5 || ee.Cmd != "vgs nosuchvg" || !strings.Contains(err.Error(), `Volume group "nosuchvg" not found`) {
		t.Fatalf("exit error %+v: %v", ee, err)
	}
	if !strings.Contains(string(res.Stderr), "not found") || len(res.Stdout) != 0 {
		t.Fatalf("result %q %q", res.Stdout, res.Stderr)
	}
}

func TestRecorderCaptureStoresStdin(t *testing.T) {
	var got []byte
	r := (&Recorder{}).Capture("ceph-authtool --import-keyring -", "imported\n", &got)
	in := "[client.admin]\n\tkey = secret\n"
	res, err := r.Run(context.Background(), Cmd{Name: "ceph-authtool", Args: []string{"--import-keyring", "-"}, Stdin: strings.NewReader(in)})
	if err != nil || string(res.Stdout) != "imported\n" {
		t.Fatalf("%q, %v", res.Stdout, err)
	}
	if string(got) != in {
		t.Fatalf("captured %q, want %q", got, in)
	}
}

func TestRecorderReadsStdinEvenWithoutCapture(t *testing.T) {
	// A command consumes its input; a writer feeding it must not block.
	r := (&Recorder{}).On("zfs recv -F rpool/data/vm-100-disk-0", "")
	in := strings.NewReader(strings.Repeat("x", 1<<16))
	if _, err := r.Run(context.Background(), Cmd{Name: "zfs", Args: []string{"recv", "-F", "rpool/data/vm-100-disk-0"}, Stdin: in}); err != nil {
		t.Fatal(err)
	}
	if in.Len() != 0 {
		t.Fatalf("%d bytes of input left unread", in.Len())
	}
}

func TestRecorderStreamsStdoutToTheGivenWriter(t *testing.T) {
	r := (&Recorder{}).On("zfs send rpool/data/vm-100-disk-0@s1", "STREAM")
	var w bytes.Buffer
	res, err := r.Run(context.Background(), Cmd{Name: "zfs", Args: []string{"send", "rpool/data/vm-100-disk-0@s1"}, Stdout: &w})
	if err != nil {
		t.Fatal(err)
	}
	if w.String() != "STREAM" || len(res.Stdout) != 0 {
		t.Fatalf("writer %q, result %q", w.String(), res.Stdout)
	}
}

func TestRecorderFailWithAStreamStillFails(t *testing.T) {
	r := (&Recorder{}).Fail("zfs send rpool/x@s", 1, "cannot open 'rpool/x@s': dataset does not exist\n")
	var w bytes.Buffer
	_, err := r.Run(context.Background(), Cmd{Name: "zfs", Args: []string{"send", "rpool/x@s"}, Stdout: &w})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("got %v", err)
	}
}

func TestRecorderResetForgetsCallsButKeepsAnswers(t *testing.T) {
	r := (&Recorder{}).On("pvs", "")
	ctx := context.Background()
	if _, err := r.Run(ctx, Cmd{Name: "pvs"}); err != nil {
		t.Fatal(err)
	}
	r.Reset()
	if got := r.Lines(); len(got) != 0 {
		t.Fatalf("after Reset: %q", got)
	}
	if _, err := r.Run(ctx, Cmd{Name: "pvs"}); err != nil {
		t.Fatalf("answer lost by Reset: %v", err)
	}
	if got := r.Lines(); !slices.Equal(got, []string{"pvs"}) {
		t.Fatalf("lines %q", got)
	}
}

func TestRecorderLinesAreQuotedLikeCmdString(t *testing.T) {
	r := (&Recorder{}).On("mkdir -p '/mnt/pve/my share'", "")
	if _, err := r.Run(context.Background(), Cmd{Name: "mkdir", Args: []string{"-p", "/mnt/pve/my share"}}); err != nil {
		t.Fatal(err)
	}
	if got := r.Lines(); !slices.Equal(got, []string{"mkdir -p '/mnt/pve/my share'"}) {
		t.Fatalf("lines %q", got)
	}
}

func TestRecorderIsSafeForConcurrentUse(t *testing.T) {
	r := (&Recorder{}).OnPrefix("rbd", "")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := r.Run(context.Background(), Cmd{Name: "rbd", Args: []string{"info", string(rune('a' + i))}}); err != nil {
					t.Error(err)
				}
				_ = r.Lines()
			}
		}()
	}
	wg.Wait()
	if got := len(r.Lines()); got != 400 {
		t.Fatalf("%d calls recorded, want 400", got)
	}
}
