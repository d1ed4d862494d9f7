package cfs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestOpHelpers(t *testing.T) {
	c := Cond{Version: 3, Digest: "ab"}
	for _, tc := range []struct {
		got, want Op
	}{
		{Write("a", []byte("x")), Op{Kind: OpWrite, Path: "a", Data: []byte("x")}},
		{Delete("a"), Op{Kind: OpDelete, Path: "a"}},
		{Mkdir("d"), Op{Kind: OpMkdir, Path: "d"}},
		{Rename("a", "b").If(c), Op{Kind: OpRename, Path: "a", To: "b", Cond: c}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("got %+v, want %+v", tc.got, tc.want)
		}
	}
	if s := OpKind(9).String(); s != "OpKind(9)" {
		t.Errorf("OpKind(9).String() = %q", s)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	ops := []Op{
		Write("a/b", []byte("data\x00\xff")).If(Cond{MustNotExist: true}),
		Write("empty", nil),
		Delete("x").If(Cond{Version: 7, Digest: "abc"}),
		Mkdir("d"),
		Rename("a/b", "c"),
	}
	b := txnEntry(t, 1700000000, 10, 20, ops...)
	typ, payload, err := splitCommand(b)
	if err != nil || typ != cmdTxn {
		t.Fatalf("splitCommand: %v, %v", typ, err)
	}
	c, got, err := decodeTxn(payload)
	if err != nil {
		t.Fatal(err)
	}
	if c.MTime != 1700000000 || c.MaxFile != 10 || c.MaxTotal != 20 {
		t.Errorf("header = %+v", c)
	}
	// nil and empty data are the same file content; compare by length.
	ops[1].Data = got[1].Data
	if !reflect.DeepEqual(got, ops) {
		t.Errorf("decoded %+v\nwant %+v", got, ops)
	}
}

func TestDecodeTxnRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"not json", `{`, "malformed"},
		{"trailing garbage", `{"ops":[{"k":"mkdir","p":"a"}]} x`, "malformed"},
		{"no ops", `{"mtime":1}`, "without operations"},
		{"unknown kind", `{"ops":[{"k":"chmod","p":"a"}]}`, `unknown operation kind "chmod"`},
		{"bad path", `{"ops":[{"k":"write","p":"/etc/passwd"}]}`, "leading '/'"},
		{"bad target", `{"ops":[{"k":"rename","p":"a","to":"b/../c"}]}`, "'.' and '..'"},
		{"missing target", `{"ops":[{"k":"rename","p":"a"}]}`, "empty"},
		{"target on write", `{"ops":[{"k":"write","p":"a","to":"b"}]}`, "only allowed for rename"},
		{"data on delete", `{"ops":[{"k":"delete","p":"a","d":"eA=="}]}`, "only allowed for write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeTxn([]byte(tc.payload))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decodeTxn(%s) = %v, want an error containing %q", tc.payload, err, tc.want)
			}
		})
	}
	if _, _, err := splitCommand(nil); !errors.Is(err, errShortCommand) {
		t.Errorf("splitCommand(nil) = %v", err)
	}
}
