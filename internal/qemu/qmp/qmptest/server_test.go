package qmptest

import (
	"bufio"
	"encoding/json"
	"net"
	"testing"
	"time"
)

// rawClient talks to the fake byte by byte, as QEMU's peers would.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func connect(t *testing.T, s *Server) *rawClient {
	nc, err := net.Dial("unix", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	return &rawClient{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *rawClient) send(s string) {
	if _, err := c.nc.Write([]byte(s + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) recv() map[string]any {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		c.t.Fatalf("fake sent %q: %v", line, err)
	}
	return m
}

func TestFakeSpeaksTheQMPHandshake(t *testing.T) {
	s := NewServer(t, nil)
	c := connect(t, s)
	if g := c.recv(); g["QMP"] == nil {
		t.Fatalf("greeting = %v", g)
	}
	c.send(`{"execute": "query-status", "id": "early"}`)
	if m := c.recv(); m["error"].(map[string]any)["class"] != "CommandNotFound" || m["id"] != "early" {
		t.Errorf("command before negotiation answered %v", m)
	}
	c.send(`{"execute": "qmp_capabilities"}`)
	if m := c.recv(); m["return"] == nil {
		t.Errorf("qmp_capabilities answered %v", m)
	}
	c.send(`{"execute": "qmp_capabilities", "id": 7}`)
	if m := c.recv(); m["error"] == nil || m["id"] != 7.0 {
		t.Errorf("second qmp_capabilities answered %v", m)
	}
	c.send(`{"execute": "stop", "id": {"any": ["json"]}}`)
	m := c.recv()
	if id, _ := json.Marshal(m["id"]); string(id) != `{"any":["json"]}` || m["return"] == nil {
		t.Errorf("id not echoed verbatim: %v", m)
	}
	if got := s.Commands(); len(got) != 1 || got[0] != "stop" {
		t.Errorf("recorded %v, want [stop]", got)
	}
}

func TestScriptRepeatsLastReplyAndOrdersEvents(t *testing.T) {
	s := NewServer(t, Script(map[string][]Response{
		"query-status": {Return("first"), {Return: "second", Before: []Event{{Name: "B"}}, After: []Event{{Name: "A", Data: map[string]int{"n": 1}}}}},
	}))
	c := connect(t, s)
	c.recv()
	c.send(`{"execute": "qmp_capabilities"}`)
	c.recv()
	var got []any
	for range 3 {
		c.send(`{"execute": "query-status", "id": 1}`)
	}
	for range 3 {
		c.send(`{"execute": "nope", "id": 2}`)
	}
	// Three replies, two of them wrapped in B ... A, three errors; the order
	// across commands is free, so count.
	counts := map[string]int{}
	for range 3 + 2*2 + 3 {
		m := c.recv()
		switch {
		case m["event"] != nil:
			counts["event "+m["event"].(string)]++
			if m["timestamp"] == nil {
				t.Errorf("event without timestamp: %v", m)
			}
		case m["error"] != nil:
			counts["error"]++
		default:
			got = append(got, m["return"])
			counts["return"]++
		}
	}
	if counts["return"] != 3 || counts["error"] != 3 || counts["event A"] != 2 || counts["event B"] != 2 {
		t.Errorf("counts = %v", counts)
	}
	first := 0
	for _, r := range got {
		if r == "first" {
			first++
		}
	}
	if first != 1 {
		t.Errorf("replies %v: want exactly one \"first\"", got)
	}
}

func TestEmitReachesNegotiatedClientsAndHangupDrops(t *testing.T) {
	s := NewServer(t, nil)
	early := connect(t, s)
	early.recv()
	c := connect(t, s)
	c.recv()
	c.send(`{"execute": "qmp_capabilities"}`)
	c.recv()
	if n := s.Clients(); n != 1 {
		t.Fatalf("Clients = %d, want 1 negotiated", n)
	}
	s.Emit("POWERDOWN", nil)
	if m := c.recv(); m["event"] != "POWERDOWN" {
		t.Errorf("got %v", m)
	}
	s.Hangup()
	if _, err := c.r.ReadString('\n'); err == nil {
		t.Error("connection still open after Hangup")
	}
	// The unnegotiated client never got the event, only the close.
	if line, err := early.r.ReadString('\n'); err == nil {
		t.Errorf("client without negotiation received %q", line)
	}
}
