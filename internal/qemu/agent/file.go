package agent

import (
	"context"
	"fmt"
	"time"
)

// ExecRequest is what guest-exec runs.
type ExecRequest struct {
	Path string   `json:"path"`
	Args []string `json:"arg,omitempty"`
	Env  []string `json:"env,omitempty"`
	// Input is fed to the program's standard input.
	Input         []byte `json:"input-data,omitempty"` // base64 on the wire
	CaptureOutput bool   `json:"capture-output"`
}

// Exec starts a program in the guest and returns its PID there.
func (c *Client) Exec(ctx context.Context, req ExecRequest) (int, error) {
	if req.Path == "" {
		return 0, fmt.Errorf("guest-exec: a program path is required")
	}
	var r struct {
		PID int `json:"pid"`
	}
	err := c.Call(ctx, "guest-exec", req, &r)
	return r.PID, err
}

// ExecStatus is the state of a program started with Exec. Output is only
// set once it has exited, and only with CaptureOutput.
type ExecStatus struct {
	Exited       bool   `json:"exited"`
	ExitCode     *int   `json:"exitcode,omitempty"`
	Signal       *int   `json:"signal,omitempty"`
	Out          []byte `json:"out-data,omitempty"` // base64 on the wire
	Err          []byte `json:"err-data,omitempty"`
	OutTruncated bool   `json:"out-truncated,omitempty"`
	ErrTruncated bool   `json:"err-truncated,omitempty"`
}

// ExecStatus asks whether the program with guest PID pid has exited.
func (c *Client) ExecStatus(ctx context.Context, pid int) (ExecStatus, error) {
	var s ExecStatus
	err := c.Call(ctx, "guest-exec-status", map[string]int{"pid": pid}, &s)
	return s, err
}

// MaxFileRead is the largest file FileRead returns; larger files fail
// rather than filling the host's memory.
const MaxFileRead = 16 << 20

// fileChunk is how much one guest-file-read or -write moves, well below
// the agent's own message limits.
const fileChunk = 1 << 20

// sizeText renders a byte count for messages.
func sizeText(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// FileOpen opens a file in the guest (mode as for fopen: r, w, a, r+ ...)
// and returns the agent's handle.
func (c *Client) FileOpen(ctx context.Context, path, mode string) (int, error) {
	args := map[string]string{"path": path}
	if mode != "" {
		args["mode"] = mode
	}
	var h int
	err := c.Call(ctx, "guest-file-open", args, &h)
	return h, err
}

// FileReadResult is one guest-file-read answer.
type FileReadResult struct {
	Count int    `json:"count"`
	Data  []byte `json:"buf-b64"` // base64 on the wire
	EOF   bool   `json:"eof"`
}

// FileReadChunk reads up to count bytes from an open handle.
func (c *Client) FileReadChunk(ctx context.Context, handle, count int) (FileReadResult, error) {
	var r FileReadResult
	err := c.Call(ctx, "guest-file-read", map[string]int{"handle": handle, "count": count}, &r)
	return r, err
}

// FileWriteChunk writes data to an open handle and returns how many bytes
// the guest took.
func (c *Client) FileWriteChunk(ctx context.Context, handle int, data []byte) (int, error) {
	var r struct {
		Count int  `json:"count"`
		EOF   bool `json:"eof"`
	}
	args := struct {
		Handle int    `json:"handle"`
		Buf    []byte `json:"buf-b64"`
	}{handle, data}
	err := c.Call(ctx, "guest-file-write", args, &r)
	return r.Count, err
}

// FileClose closes an open handle.
func (c *Client) FileClose(ctx context.Context, handle int) error {
	return c.Call(ctx, "guest-file-close", map[string]int{"handle": handle}, nil)
}

// closeQuietly closes handle even when ctx is already over, so a failed
// transfer does not leak an open file in the guest agent.
func (c *Client) closeQuietly(ctx context.Context, handle int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c.FileClose(ctx, handle)
}

// FileRead returns the whole content of a guest file, up to MaxFileRead.
func (c *Client) FileRead(ctx context.Context, path string) ([]byte, error) {
	h, err := c.FileOpen(ctx, path, "r")
	if err != nil {
		return nil, err
	}
	defer c.closeQuietly(ctx, h)
	var content []byte
	for {
		// Ask for one byte past the limit so an oversized file shows.
		n := min(c.fileChunk, c.maxFileRead+1-len(content))
		r, err := c.FileReadChunk(ctx, h, n)
		if err != nil {
			return nil, err
		}
		content = append(content, r.Data...)
		if len(content) > c.maxFileRead {
			return nil, fmt.Errorf("guest file %s is larger than the %s read limit", path, sizeText(c.maxFileRead))
		}
		if r.EOF || len(r.Data) == 0 {
			return content, nil
		}
	}
}

// FileWrite creates or truncates a guest file and writes content to it.
func (c *Client) FileWrite(ctx context.Context, path string, content []byte) error {
	h, err := c.FileOpen(ctx, path, "w")
	if err != nil {
		return err
	}
	for len(content) > 0 {
		chunk := content[:min(c.fileChunk, len(content))]
		n, err := c.FileWriteChunk(ctx, h, chunk)
		if err != nil {
			c.closeQuietly(ctx, h)
			return err
		}
		if n <= 0 {
			c.closeQuietly(ctx, h)
			return fmt.Errorf("guest file %s: the agent wrote nothing", path)
		}
		content = content[min(n, len(chunk)):]
	}
	// Closing flushes; its error is the write's error.
	return c.FileClose(ctx, h)
}
