package vm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// termEvents records decoded terminal messages in the protocol's own
// notation, so a test (and the fuzzer) can encode them back.
type termEvents struct {
	out    *bytes.Buffer // where input data is copied
	events []string
	starts []int // offset in out where each input message starts
}

func (e *termEvents) input(n int64) {
	e.events = append(e.events, fmt.Sprintf("0:%d:", n))
	e.starts = append(e.starts, e.out.Len())
}
func (e *termEvents) resize(cols, rows int) {
	e.events = append(e.events, fmt.Sprintf("1:%d:%d:", cols, rows))
	e.starts = append(e.starts, -1)
}
func (e *termEvents) ping() {
	e.events = append(e.events, "2")
	e.starts = append(e.starts, -1)
}

// encode writes the decoded messages back in canonical form.
func (e *termEvents) encode() string {
	var b strings.Builder
	data := e.out.Bytes()
	for i, ev := range e.events {
		b.WriteString(ev)
		if e.starts[i] >= 0 {
			var n int
			fmt.Sscanf(ev, "0:%d:", &n)
			end := min(e.starts[i]+n, len(data))
			b.Write(data[e.starts[i]:end])
		}
	}
	return b.String()
}

func decodeTerm(in string) (*termEvents, error) {
	ev := &termEvents{out: &bytes.Buffer{}}
	err := copyTermInput(ev.out, bufio.NewReaderSize(strings.NewReader(in), 16), ev)
	return ev, err
}

func TestTermInputDecoding(t *testing.T) {
	const (
		ok = iota
		protocol
		cut
	)
	tests := []struct {
		name   string
		in     string
		out    string
		events []string
		err    int
	}{
		{"nothing", "", "", nil, ok},
		{"keys", "0:3:ls\r", "ls\r", []string{"0:3:"}, ok},
		{"back to back", "0:1:a21:80:24:0:2:bc2", "abc", []string{"0:1:", "2", "1:80:24:", "0:2:", "2"}, ok},
		{"empty input", "0:0:", "", []string{"0:0:"}, ok},
		{"utf-8 counted in bytes", "0:3:€", "€", []string{"0:3:"}, ok},
		{"data may hold anything", "0:5:1:2:\n", "1:2:\n", []string{"0:5:"}, ok},
		{"longer than one buffer", "0:40:" + strings.Repeat("y", 40), strings.Repeat("y", 40), []string{"0:40:"}, ok},
		{"leading zeros", "1:080:024:", "", []string{"1:80:24:"}, ok},
		{"unknown type", "3", "", nil, protocol},
		{"credentials again", "root@pam:PVEVNC:x\n", "", nil, protocol},
		{"no colon", "0x", "", nil, protocol},
		{"no length", "0::", "", nil, protocol},
		{"letter in length", "0:1a:", "", nil, protocol},
		{"length too long", "0:12345678901:", "", nil, protocol},
		{"too much input", "0:2000000000:", "", nil, protocol},
		{"size with one number", "1:80:", "", nil, cut},
		{"size too large", "1:123456:1:", "", nil, protocol},
		{"cut in the data", "0:5:ab", "ab", []string{"0:5:"}, cut},
		{"cut in the header", "0:5", "", nil, cut},
		{"after a good message", "0:1:az", "a", []string{"0:1:"}, protocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := decodeTerm(tt.in)
			var pe *termProtocolError
			switch {
			case tt.err == ok && err != nil,
				tt.err == protocol && !errors.As(err, &pe),
				tt.err == cut && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Fatalf("error %v, want kind %d", err, tt.err)
			}
			if ev.out.String() != tt.out {
				t.Errorf("output %q, want %q", ev.out.String(), tt.out)
			}
			if fmt.Sprint(ev.events) != fmt.Sprint(tt.events) {
				t.Errorf("events %q, want %q", ev.events, tt.events)
			}
		})
	}
}

// FuzzTermInput checks that the decoder never panics, and that what it
// decoded, encoded again, decodes without error to the same messages and
// the same output: nothing is invented, dropped or reordered. Seeds are
// in testdata/fuzz/FuzzTermInput.
func FuzzTermInput(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		ev, err := decodeTerm(in)
		if err != nil && len(ev.events) > 0 && ev.starts[len(ev.starts)-1] >= 0 {
			// Cut inside the data of the last message: keep what was
			// whole, as the encoder cannot say how much was there.
			last := len(ev.events) - 1
			ev.out.Truncate(ev.starts[last])
			ev.events, ev.starts = ev.events[:last], ev.starts[:last]
		}
		enc := ev.encode()
		again, err := decodeTerm(enc)
		if err != nil {
			t.Fatalf("%q decoded as %q, which does not decode: %v", in, enc, err)
		}
		if fmt.Sprint(again.events) != fmt.Sprint(ev.events) || again.out.String() != ev.out.String() {
			t.Fatalf("%q decoded as %q, which decodes differently", in, enc)
		}
	})
}

func TestReadTermAuth(t *testing.T) {
	tests := []struct {
		in, authid, ticket string
		ok                 bool
	}{
		{"root@pam:PVEVNC:6553F100::c2ln\n", "root@pam", "PVEVNC:6553F100::c2ln", true},
		{"alice@pve!ci:T\r\n0:1:x", "alice@pve!ci", "T", true},
		{"root@pam\n", "", "", false},
		{":ticket\n", "", "", false},
		{"root@pam:\n", "", "", false},
		{"root@pam:ticket", "", "", false},
		{"root@pam:" + strings.Repeat("t", maxTermAuth) + "\n", "", "", false},
	}
	for _, tt := range tests {
		a, tk, err := readTermAuth(bufio.NewReader(strings.NewReader(tt.in)))
		if (err == nil) != tt.ok || a != tt.authid || tk != tt.ticket {
			t.Errorf("%.30q: %q %q %v", tt.in, a, tk, err)
		}
	}
}
