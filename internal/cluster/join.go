package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/pki"
)

// DefaultAPIPort is where nodes listen unless told otherwise.
const DefaultAPIPort = "8006"

// join makes this node a member of the cluster that hostname belongs to.
func (c *Cluster) join(ctx context.Context, call *api.Call, in *api.JoinParams) (api.Task, error) {
	if _, ok := c.Conf(); ok && !in.Force {
		return api.Task{}, errors.New("this node is already part of a cluster; use force to join another one anyway")
	}
	if guests := c.localGuests(); len(guests) > 0 {
		return api.Task{}, fmt.Errorf("this node has guests (%s); a joining node must have none, since the cluster's configuration replaces its own", strings.Join(guests, ", "))
	}
	host := in.Hostname
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, DefaultAPIPort)
	}
	return api.Task{Type: "clusterjoin", ID: "", Run: func(ctx context.Context, log api.TaskLog) error {
		return c.runJoin(ctx, log, host, in)
	}}, nil
}

func (c *Cluster) runJoin(ctx context.Context, log api.TaskLog, host string, in *api.JoinParams) error {
	remote, err := newRemote(host, in.Fingerprint)
	if err != nil {
		return err
	}
	log.Printf("logging in to %s as %s", host, in.User)
	if err := remote.login(ctx, in.User, in.Password); err != nil {
		return err
	}
	log.Printf("asking %s to admit node %s at %s", host, c.cfg.Node, c.cfg.Raft.Advertise())
	form := url.Values{"api-address": {c.cfg.Raft.Advertise()}, "apiversion": {fmt.Sprint(JoinAPIVersion)}}
	if in.Force {
		form.Set("force", "1")
	}
	if in.NodeID != nil {
		form.Set("nodeid", fmt.Sprint(*in.NodeID))
	}
	var res api.AddNodeResult
	if err := remote.call(ctx, http.MethodPost, "/cluster/config/nodes/"+url.PathEscape(c.cfg.Node), form, &res); err != nil {
		return fmt.Errorf("the cluster refused this node: %w", err)
	}
	for _, w := range res.Warnings {
		log.Warnf("%s", w)
	}
	log.Printf("admitted to cluster %s as node id %d", res.ClusterName, res.NodeID)
	if err := c.cfg.Identity.Set([]byte(res.CA), []byte(res.Cert), []byte(res.Key)); err != nil {
		return fmt.Errorf("storing the certificate issued by the cluster: %w", err)
	}
	log.Printf("replacing this node's configuration with the cluster's (the old state is kept as a backup)")
	if err := c.cfg.Store.Reset(ctx); err != nil {
		return err
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := c.waitForTree(waitCtx); err != nil {
		return fmt.Errorf("receiving the cluster's configuration: %w", err)
	}
	log.Printf("received the cluster's configuration")
	conf, ok := c.Conf()
	if !ok {
		return errors.New("the cluster's configuration has no cluster.conf")
	}
	if err := c.startGossip(conf); err != nil {
		return err
	}
	gossipAddr := c.Gossip().Addr()
	err = c.updateConf(ctx, func(conf *Conf) error {
		n, ok := conf.Node(c.cfg.Node)
		if !ok {
			return fmt.Errorf("node %s is missing from %s", c.cfg.Node, ConfPath)
		}
		n.Gossip = gossipAddr
		conf.SetNode(n)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording this node's gossip address: %w", err)
	}
	log.Printf("node %s joined cluster %s", c.cfg.Node, res.ClusterName)
	c.log.Info("joined cluster", "cluster", res.ClusterName, "via", host)
	return nil
}

// waitForTree waits until the cluster's tree has arrived.
func (c *Cluster) waitForTree(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if c.cfg.Store.Quorate() {
			if err := c.cfg.Store.Sync(ctx); err == nil {
				if _, ok := c.Conf(); ok {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// remote is an API client for another node, pinned to its certificate.
type remote struct {
	base   string
	client *http.Client
	ticket string
	csrf   string
}

func newRemote(host, fingerprint string) (*remote, error) {
	want := strings.ToUpper(fingerprint)
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the fingerprint check
		NextProtos:         []string{"http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got := pki.FormatFingerprint(sum[:]); got != want {
				return fmt.Errorf("certificate fingerprint %s does not match the expected %s", got, want)
			}
			return nil
		},
	}
	return &remote{base: "https://" + host + "/api2/json", client: &http.Client{
		Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 60 * time.Second}}, nil
}

func (r *remote) login(ctx context.Context, user, password string) error {
	var t api.Ticket
	if err := r.call(ctx, http.MethodPost, "/access/ticket", url.Values{"username": {user}, "password": {password}}, &t); err != nil {
		return fmt.Errorf("login as %s: %w", user, err)
	}
	r.ticket, r.csrf = t.Ticket, t.CSRFToken
	return nil
}

func (r *remote) call(ctx context.Context, method, path string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewBufferString(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r.ticket != "" {
		req.Header.Set("Cookie", "PVEAuthCookie="+r.ticket)
		req.Header.Set("CSRFPreventionToken", r.csrf)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errors map[string]string `json:"errors"`
		}
		json.Unmarshal(body, &e)
		msg := resp.Status
		for k, v := range e.Errors {
			msg += fmt.Sprintf("; %s: %s", k, v)
		}
		return errors.New(msg)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return err
	}
	return json.Unmarshal(env.Data, out)
}
