package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/pki"
)

// The witness's setup protocol, served by package witness: who the
// witness is, and the hand-over of its identity, guarded by the setup
// token the witness printed.
const (
	WitnessInfoPath    = "/witness/info"
	WitnessSetupPath   = "/witness/setup"
	WitnessTokenHeader = "X-Hearth-Setup-Token"
)

// QDeviceRoutes binds the witness endpoints.
func (c *Cluster) QDeviceRoutes() []api.Route {
	return []api.Route{
		api.ClusterQDeviceStatus.Handle(c.qdeviceStatus),
		api.ClusterQDeviceSetup.Handle(c.qdeviceSetup),
		api.ClusterQDeviceRemove.Handle(c.qdeviceRemove),
	}
}

func (c *Cluster) qdeviceStatus(ctx context.Context, call *api.Call, _ *api.NoParams) (map[string]any, error) {
	conf, ok := c.Conf()
	if !ok || conf.Witness == nil {
		return map[string]any{}, nil
	}
	voter := 0
	if servers, err := c.cfg.Store.Servers(); err == nil {
		for _, s := range servers {
			if s.ID == conf.Witness.Name && s.Voter {
				voter = 1
			}
		}
	}
	return map[string]any{"name": conf.Witness.Name, "address": conf.Witness.Address, "fingerprint": conf.Witness.Fingerprint, "voter": voter}, nil
}

// qdeviceSetup issues the witness a node certificate, hands it over with
// the setup token the witness printed, and makes the witness a voter.
func (c *Cluster) qdeviceSetup(ctx context.Context, call *api.Call, in *api.QDeviceParams) (any, error) {
	conf, ok := c.Conf()
	if !ok {
		return nil, errors.New("this node is not part of a cluster; create one first")
	}
	if conf.Witness != nil {
		return nil, fmt.Errorf("the cluster already has a witness (%s); remove it first", conf.Witness.Name)
	}
	r, err := newRemote(in.Address, in.Fingerprint)
	if err != nil {
		return nil, err
	}
	var info struct {
		Name  string `json:"name"`
		Setup bool   `json:"setup"`
	}
	if err := r.raw(ctx, http.MethodGet, WitnessInfoPath, nil, "", &info); err != nil {
		return nil, fmt.Errorf("asking the witness at %s who it is: %w", in.Address, err)
	}
	if info.Setup {
		return nil, fmt.Errorf("the witness at %s already belongs to a cluster", in.Address)
	}
	if _, taken := conf.Node(info.Name); taken {
		return nil, fmt.Errorf("the witness's name %s is the name of a node", info.Name)
	}
	caCert, err1 := c.cfg.Store.Get(CACertPath)
	caKey, err2 := c.cfg.Store.Get(CAKeyPath)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	ca, err := pki.LoadCA(caCert.Data, caKey.Data)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.NodeCert(info.Name, []string{AddrHost(in.Address)}, time.Now())
	if err != nil {
		return nil, err
	}
	setup, _ := json.Marshal(map[string]string{"cluster": conf.Name, "ca": string(caCert.Data), "cert": string(certPEM), "key": string(keyPEM)})
	if err := r.raw(ctx, http.MethodPost, WitnessSetupPath, setup, in.Token, nil); err != nil {
		return nil, fmt.Errorf("setting up the witness: %w", err)
	}
	cert, _ := pki.ParseCert(certPEM)
	if err := c.updateConf(ctx, func(conf *Conf) error {
		conf.Witness = &WitnessConf{Name: info.Name, Address: in.Address, Fingerprint: pki.Fingerprint(cert)}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := c.cfg.Store.AddVoter(ctx, info.Name, in.Address); err != nil {
		return nil, fmt.Errorf("adding the witness as a voter: %w", err)
	}
	c.log.Info("added a witness to the cluster", "witness", info.Name, "address", in.Address, "by", call.User)
	return nil, nil
}

func (c *Cluster) qdeviceRemove(ctx context.Context, call *api.Call, _ *api.NoParams) (any, error) {
	conf, ok := c.Conf()
	if !ok || conf.Witness == nil {
		return nil, errors.New("the cluster has no witness")
	}
	name := conf.Witness.Name
	if err := c.cfg.Store.RemoveServer(ctx, name); err != nil {
		return nil, fmt.Errorf("removing the witness from the consensus: %w", err)
	}
	if err := c.updateConf(ctx, func(conf *Conf) error { conf.Witness = nil; return nil }); err != nil {
		return nil, err
	}
	c.log.Warn("removed the witness", "witness", name, "by", call.User)
	return nil, nil
}

// raw makes a plain JSON call outside the API (the witness protocol).
func (r *remote) raw(ctx context.Context, method, path string, body []byte, token string, out any) error {
	base := r.base[:len(r.base)-len("/api2/json")]
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set(WitnessTokenHeader, token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
