package rest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// gzipMin is the smallest body worth compressing: below it the CPU spent
// costs more than the bytes saved on any network.
const gzipMin = 4096

// gzipPool reuses compressors; a new one allocates about a megabyte.
type gzipPool struct{ p sync.Pool }

func (g *gzipPool) compress(body []byte) []byte {
	var buf bytes.Buffer
	zw, _ := g.p.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	} else {
		zw.Reset(&buf)
	}
	zw.Write(body)
	zw.Close()
	g.p.Put(zw)
	return buf.Bytes()
}

// writeJSON sends a 200 response with body {"data": ...} (and "total").
func (g *gzipPool) writeJSON(w http.ResponseWriter, r *http.Request, data any, total *int) {
	env := struct {
		Data  any  `json:"data"`
		Total *int `json:"total,omitempty"`
	}{data, total}
	g.writeEnvelope(w, r, env)
}

// writeJSONAttrs sends a 200 response whose body has attributes beside
// "data", as Proxmox VE sends "changes" with the network list.
func (g *gzipPool) writeJSONAttrs(w http.ResponseWriter, r *http.Request, data any, attrs map[string]any) {
	env := make(map[string]any, len(attrs)+1)
	for k, v := range attrs {
		env[k] = v
	}
	env["data"] = data
	g.writeEnvelope(w, r, env)
}

func (g *gzipPool) writeEnvelope(w http.ResponseWriter, r *http.Request, env any) {
	body, err := json.Marshal(env)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, "encoding the result: "+err.Error(), nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	noCache(h)
	if len(body) >= gzipMin && acceptsGzip(r) {
		body = g.compress(body)
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func noCache(h http.Header) {
	h.Set("Cache-Control", "max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && !strings.Contains(strings.ReplaceAll(q, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

// reason turns a message into a status-line reason phrase: its first line,
// printable ASCII only (the status line is not UTF-8 safe), bounded.
func reason(msg string) string {
	line, _, _ := strings.Cut(msg, "\n")
	var b strings.Builder
	for _, c := range []byte(line) {
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
		if b.Len() >= 512 {
			break
		}
	}
	if b.Len() == 0 {
		return http.StatusText(0)
	}
	return b.String()
}

// writeError sends an error the way Proxmox VE does: the message as the
// status line's reason phrase and in the body, with per-parameter errors.
// Go's net/http always writes the standard reason phrase, so the response
// is written by hand on the hijacked connection, which is then closed.
// A 401 has an empty body.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string, errs map[string]string) {
	var body []byte
	if status != http.StatusUnauthorized {
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		env := map[string]any{"data": nil, "message": msg}
		if len(errs) > 0 {
			env["errors"] = errs
		}
		body, _ = json.Marshal(env)
	}
	phrase := reason(msg)
	if phrase == "" {
		phrase = http.StatusText(status)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		// Not hijackable (a test recorder, or HTTP/2): the standard phrase
		// must do; the message is still in the body.
		writePlainError(w, status, body)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		writePlainError(w, status, body)
		return
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	writeRaw(rw.Writer, r.ProtoAtLeast(1, 1), status, phrase, body)
	rw.Flush()
}

func writePlainError(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	if body != nil {
		h.Set("Content-Type", "application/json;charset=UTF-8")
	}
	noCache(h)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func writeRaw(bw *bufio.Writer, http11 bool, status int, phrase string, body []byte) {
	proto := "HTTP/1.0"
	if http11 {
		proto = "HTTP/1.1"
	}
	fmt.Fprintf(bw, "%s %03d %s\r\n", proto, status, phrase)
	bw.WriteString("Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n")
	bw.WriteString("Cache-Control: max-age=0\r\nPragma: no-cache\r\nExpires: Thu, 01 Jan 1970 00:00:00 GMT\r\n")
	if body != nil {
		bw.WriteString("Content-Type: application/json;charset=UTF-8\r\n")
	}
	fmt.Fprintf(bw, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	bw.Write(body)
}
