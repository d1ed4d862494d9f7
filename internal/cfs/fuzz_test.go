package cfs

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add calls
// below only cover what those files might be missing after an edit.

func FuzzValidatePath(f *testing.F) {
	f.Add("nodes/pve1/qemu-server/100.conf")
	f.Add("a//b")
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidatePath(p)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Path != p || !errors.Is(err, ErrInvalid) || pe.Reason == "" {
				t.Fatalf("ValidatePath(%q) = %v: not a *PathError naming the path and a reason", p, err)
			}
			return
		}
		// Everything accepted must satisfy every rule.
		if len(p) == 0 || len(p) > MaxPathLen || !utf8.ValidString(p) || p[0] == '/' || p[len(p)-1] == '/' {
			t.Fatalf("accepted %q", p)
		}
		for _, r := range p {
			if !unicode.IsPrint(r) {
				t.Fatalf("accepted %q with %U", p, r)
			}
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." || len(seg) > MaxSegmentLen {
				t.Fatalf("accepted %q with segment %q", p, seg)
			}
		}
		// An accepted path is a proper key of the tree.
		dir, name := splitParent(p)
		if joinPath(dir, name) != p || (dir != "" && ValidatePath(dir) != nil) || ValidatePath(name) != nil {
			t.Fatalf("splitParent(%q) = %q, %q", p, dir, name)
		}
	})
}

// FuzzDecodeCommand feeds arbitrary log entries to a fresh state machine:
// it must never panic, must keep its size accounting right, and whatever
// decodes must survive an encode/decode round trip unchanged.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{1, '{', '}'})
	f.Add(append([]byte{1}, `{"mtime":1,"ops":[{"k":"write","p":"a/b","d":"eA=="}]}`...))
	f.Fuzz(func(t *testing.T, entry []byte) {
		m := quietFSM()
		res := applyEntry(m, 1, entry)
		switch {
		case res.err == nil && res.version != 1, res.err != nil && res.version != 0:
			t.Fatalf("result %+v", res)
		}
		if res.err != nil && m.dump() != quietFSM().dump() {
			t.Fatalf("a refused entry changed the tree: %v", res.err)
		}
		checkTotal(t, m)

		typ, payload, err := splitCommand(entry)
		if err != nil || typ != cmdTxn {
			return
		}
		c, ops, err := decodeTxn(payload)
		if err != nil {
			return
		}
		again := txnEntry(t, c.MTime, c.MaxFile, c.MaxTotal, ops...)
		c2, ops2, err := decodeTxn(again[1:])
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if c.MTime != c2.MTime || c.MaxFile != c2.MaxFile || c.MaxTotal != c2.MaxTotal || !sameOps(ops, ops2) {
			t.Fatalf("round trip changed the command:\n%+v\n%+v", ops, ops2)
		}
		// Replaying the re-encoded entry gives the same outcome.
		m2 := quietFSM()
		res2 := applyEntry(m2, 1, again)
		if res2.version != res.version || (res2.err == nil) != (res.err == nil) || m2.dump() != m.dump() {
			t.Fatalf("re-encoded entry applied differently: %+v vs %+v", res2, res)
		}
	})
}

// quietFSM does not log: the fuzzer produces refused entries by the
// million.
func quietFSM() *fsm { return newFSM(slog.New(slog.DiscardHandler), newHub(0)) }

// sameOps compares ops, treating nil and empty data alike.
func sameOps(a, b []Op) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if len(x.Data) == 0 && len(y.Data) == 0 {
			x.Data, y.Data = nil, nil
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}
