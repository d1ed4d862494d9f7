package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Warnf(string, ...any)  {}
func (nopLog) Progress(int64, int64) {}

type uploadIn struct {
	Node     string `json:"node"`
	Filename string `json:"filename"`
	Note     string `json:"note"`
}

var uploadTask = api.DeclareTask[uploadIn](api.Endpoint{Path: "/nodes/{node}/upload", Method: "POST", Name: "upload",
	Description: "Upload.", Perm: api.AnyUser(""), ProxyTo: "node", Upload: "filename",
	Params: schema.Props{"node": schema.Node().Ptr(), "filename": schema.Str("File.").Ptr(), "note": schema.Str("Note.").Opt()}})

// received carries what upload tasks saw, per node: "name note size sha256".
var received = map[string]chan string{"n1": make(chan string, 1), "n2": make(chan string, 1)}

func uploadHandler(node string) func(context.Context, *api.Call, *uploadIn) (api.Task, error) {
	return func(ctx context.Context, c *api.Call, in *uploadIn) (api.Task, error) {
		if c.Upload == nil {
			return api.Task{}, fmt.Errorf("no upload")
		}
		return api.Task{Type: "imgcopy", Run: func(ctx context.Context, log api.TaskLog) error {
			h := sha256.New()
			n, err := io.Copy(h, c.Upload)
			received[node] <- (fmt.Sprintf("%s %s %d %s %v", in.Filename, in.Note, n, hex.EncodeToString(h.Sum(nil)), err))
			return err
		}}, nil
	}
}

// multipartBody builds a form with the note field, then the file.
func multipartBody(t *testing.T, fileField, name string, content []byte) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("note", "hello")
	fw, err := w.CreateFormFile(fileField, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	w.Close()
	return &b, w.FormDataContentType()
}

func TestUploadIsStreamedToTheTaskAndForwarded(t *testing.T) {
	n1, _ := startCluster(t)
	// Larger than MaxBody and than the multipart reader's buffer, so the
	// file cannot have been read as an ordinary body.
	content := bytes.Repeat([]byte("0123456789abcdef"), 200_000)
	sum := sha256.Sum256(content)
	for _, node := range []string{"n1", "n2"} {
		body, ct := multipartBody(t, "filename", "disk.iso", content)
		hdr := ticket("root@pam")
		hdr["Content-Type"] = ct
		r := do(t, n1.client, "POST", n1.srv.URL+"/api2/json/nodes/"+node+"/upload", body, hdr)
		if r.code != 200 {
			t.Fatalf("%s: %s %s", node, r.status, r.raw)
		}
		want := fmt.Sprintf("disk.iso hello %d %s <nil>", len(content), hex.EncodeToString(sum[:]))
		select {
		case got := <-received[node]:
			if got != want {
				t.Errorf("%s received %v, want %q", node, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the task on %s never finished reading", node)
		}
	}
}

func TestUploadRefusals(t *testing.T) {
	ts, _ := startServer(t, "n1", nil)
	hdr := ticket("root@pam")
	cases := []struct {
		name, field, file, want string
	}{
		{"wrong field", "other", "a.iso", "files are accepted only in the form field 'filename'"},
		{"no file name", "filename", "", "no file part named 'filename'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			w := multipart.NewWriter(&b)
			if c.file == "" {
				w.WriteField(c.field, "x")
			} else {
				fw, _ := w.CreateFormFile(c.field, c.file)
				fw.Write([]byte("data"))
			}
			w.Close()
			h := map[string]string{"Content-Type": w.FormDataContentType()}
			for k, v := range hdr {
				h[k] = v
			}
			r := do(t, ts.Client(), "POST", ts.URL+"/api2/json/nodes/n1/upload", &b, h)
			if r.code != http.StatusBadRequest || !strings.Contains(string(r.raw), c.want) {
				t.Errorf("got %s %s, want 400 with %q", r.status, r.raw, c.want)
			}
		})
	}
	// Form fields before the file are bounded like any body.
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("note", strings.Repeat("x", 10_000))
	fw, _ := w.CreateFormFile("filename", "a.iso")
	fw.Write([]byte("data"))
	w.Close()
	h := map[string]string{"Content-Type": w.FormDataContentType()}
	for k, v := range hdr {
		h[k] = v
	}
	r := do(t, ts.Client(), "POST", ts.URL+"/api2/json/nodes/n1/upload", &b, h)
	if r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized fields: got %s, want 413", r.status)
	}
}
