package agent

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// fakeAgent speaks the guest agent protocol on a unix socket, the way the
// host end of the virtio-serial port carries it: it answers
// guest-sync-delimited with a 0xFF-prefixed reply, can be made to put
// stale data in front of that reply, and keeps guest files in memory.
type fakeAgent struct {
	path string
	ln   net.Listener

	handle handler
	// silent makes the agent read requests and never answer (no agent
	// process in the guest).
	silent bool

	mu       sync.Mutex
	stale    [][]byte // written before the next sync answer
	commands []string // commands other than the sync, in order
	conns    int      // connections accepted
	open     []net.Conn
	files    map[string][]byte
	handles  map[int]*openFile
	nextH    int
	wg       sync.WaitGroup
}

type openFile struct {
	path string
	pos  int
}

// handler answers one ordinary command; ok false means no reply at all.
type handler func(cmd string, args json.RawMessage) (ret any, qerr *Error, ok bool)

// newFakeAgent starts a fake that answers with handle (nil: only the file
// commands and the sync); a silent one never answers anything.
func newFakeAgent(t *testing.T, silent bool, handle handler) *fakeAgent {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qga.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{path: path, ln: ln, silent: silent, handle: handle, files: map[string][]byte{}, handles: map[int]*openFile{}}
	a.wg.Add(1)
	go a.accept()
	t.Cleanup(func() {
		ln.Close()
		a.wg.Wait()
	})
	return a
}

// addStale queues bytes the agent emits ahead of its next sync answer.
func (a *fakeAgent) addStale(b string) {
	a.mu.Lock()
	a.stale = append(a.stale, []byte(b))
	a.mu.Unlock()
}

// hangup closes every connection from the agent's side, as a restarted
// QEMU chardev would.
func (a *fakeAgent) hangup() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.open {
		c.Close()
	}
	a.open = nil
}

// setFile puts a file into the fake guest.
func (a *fakeAgent) setFile(path string, content []byte) {
	a.mu.Lock()
	a.files[path] = content
	a.mu.Unlock()
}

func (a *fakeAgent) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.commands...)
}

func (a *fakeAgent) accept() {
	defer a.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	defer a.hangup()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		a.conns++
		a.open = append(a.open, c)
		a.mu.Unlock()
		conns.Go(func() { a.serve(c) })
	}
}

// dropFF removes the delimiter bytes clients send to reset the parser.
type dropFF struct{ r io.Reader }

func (d dropFF) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	j := 0
	for _, b := range p[:n] {
		if b != 0xFF {
			p[j] = b
			j++
		}
	}
	return j, err
}

func (a *fakeAgent) serve(c net.Conn) {
	defer c.Close()
	dec := json.NewDecoder(bufio.NewReader(dropFF{c}))
	for {
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := dec.Decode(&req); err != nil {
			return
		}
		if a.silent {
			continue
		}
		if req.Execute == "guest-sync-delimited" {
			var args struct{ ID int64 }
			json.Unmarshal(req.Arguments, &args)
			a.mu.Lock()
			stale := a.stale
			a.stale = nil
			a.mu.Unlock()
			for _, s := range stale {
				c.Write(s)
			}
			fmt.Fprintf(c, "\xff{\"return\": %d}\n", args.ID)
			continue
		}
		a.mu.Lock()
		a.commands = append(a.commands, req.Execute)
		a.mu.Unlock()
		ret, qerr, ok := a.fileCommand(req.Execute, req.Arguments)
		if !ok && a.handle != nil {
			ret, qerr, ok = a.handle(req.Execute, req.Arguments)
		}
		if !ok {
			continue
		}
		var msg any = map[string]any{"return": ret}
		if qerr != nil {
			msg = map[string]any{"error": qerr}
		}
		b, _ := json.Marshal(msg)
		c.Write(append(b, '\n'))
	}
}

// fileCommand implements the guest-file-* commands over the in-memory files.
func (a *fakeAgent) fileCommand(cmd string, raw json.RawMessage) (any, *Error, bool) {
	var args struct {
		Path   string
		Mode   string
		Handle int
		Count  int
		Buf    string `json:"buf-b64"`
	}
	json.Unmarshal(raw, &args)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch cmd {
	case "guest-file-open":
		if _, ok := a.files[args.Path]; !ok && args.Mode == "r" {
			return nil, &Error{"GenericError", "failed to open file '" + args.Path + "' (mode: 'r'): No such file or directory"}, true
		}
		if args.Mode == "w" {
			a.files[args.Path] = nil
		}
		a.nextH++
		h := 1000 + a.nextH
		a.handles[h] = &openFile{path: args.Path}
		return h, nil, true
	case "guest-file-read":
		f := a.handles[args.Handle]
		data := a.files[f.path][f.pos:]
		n := min(args.Count, len(data))
		f.pos += n
		return map[string]any{"count": n, "buf-b64": base64.StdEncoding.EncodeToString(data[:n]), "eof": f.pos == len(a.files[f.path])}, nil, true
	case "guest-file-write":
		f := a.handles[args.Handle]
		data, err := base64.StdEncoding.DecodeString(args.Buf)
		if err != nil {
			return nil, &Error{"GenericError", "bad base64"}, true
		}
		a.files[f.path] = append(a.files[f.path], data...)
		return map[string]any{"count": len(data), "eof": false}, nil, true
	case "guest-file-close":
		if _, ok := a.handles[args.Handle]; !ok {
			return nil, &Error{"GenericError", "handle not found"}, true
		}
		delete(a.handles, args.Handle)
		return map[string]any{}, nil, true
	}
	return nil, nil, false
}
