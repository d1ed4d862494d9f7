package rest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Forwarder finds how to reach another node of the cluster.
type Forwarder interface {
	// Route returns the base URL of node's API (https://host:port) and a
	// client that presents this node's certificate to it.
	Route(node string) (baseURL string, client *http.Client, err error)
}

// StatusProxyFailed is the status Proxmox VE uses when the node a request
// was meant for cannot be reached.
const StatusProxyFailed = 595

// forward sends the request to the node that must execute it, keeping the
// caller's identity, and relays the answer unchanged (status line
// included, since clients read the reason phrase).
func (s *Server) forward(w http.ResponseWriter, r *http.Request, node string, raw *rawRequest, id identity) {
	if s.cfg.Forwarder == nil {
		s.fail(w, r, fmt.Errorf("node '%s' is not a member of this cluster", node))
		return
	}
	base, client, err := s.cfg.Forwarder.Route(node)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	url := base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		url += "?" + r.URL.RawQuery
	}
	var body io.Reader
	if raw.body != nil {
		body = bytes.NewReader(raw.body)
	}
	if raw.rest != nil {
		// An upload: its form fields were read here, the file was not.
		body = io.MultiReader(bytes.NewReader(raw.body), raw.rest)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if raw.rest != nil {
		req.ContentLength = r.ContentLength
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if ae := r.Header.Get("Accept-Encoding"); ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	req.Header.Set(HeaderForwardedUser, id.user)
	if id.token != "" {
		req.Header.Set(HeaderForwardedToken, id.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		writeError(w, r, StatusProxyFailed, fmt.Sprintf("node %s is unreachable: %v", node, trimURLError(err)), nil)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if rec, ok := w.(*statusRecorder); ok {
			rec.status = resp.StatusCode
		}
		relayError(w, r, resp, body)
		return
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Length", "Vary", "Cache-Control", "Pragma", "Expires", "Content-Disposition"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// relayError writes the remote node's error with its own reason phrase.
func relayError(w http.ResponseWriter, r *http.Request, resp *http.Response, body []byte) {
	phrase := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	hj, ok := w.(http.Hijacker)
	if !ok {
		writePlainError(w, resp.StatusCode, body)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		writePlainError(w, resp.StatusCode, body)
		return
	}
	defer conn.Close()
	if len(body) == 0 {
		body = nil
	}
	writeRaw(rw.Writer, r.ProtoAtLeast(1, 1), resp.StatusCode, reason(phrase), body)
	rw.Flush()
}

// trimURLError drops the method and URL that net/http puts in front of
// transport errors; the node name already says where.
func trimURLError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg[:i], "://") {
		return msg[i+2:]
	}
	return msg
}
