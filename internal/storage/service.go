package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/sectioncfg"
)

// Options is how the daemon builds the storage service.
type Options struct {
	Store *cfs.Store
	// Plugins is the table of storage types this build knows.
	Plugins []Plugin
	// Env is given to every storage instance (node name, runner, mount
	// root, state directory).
	Env Env
	// LocalPath is the directory of the "local" storage written into a
	// new storage.cfg (default /var/lib/vz).
	LocalPath string
	// LocalContent is what that storage holds (default: everything a dir
	// storage can hold, so that a single node is useful at once).
	LocalContent string
	// ActivateTimeout bounds activating one storage (a mount, a login),
	// so that one unreachable server never holds up the others.
	ActivateTimeout time.Duration
	// HTTPClient fetches download-url sources; nil uses a default client.
	HTTPClient *http.Client
	// Location is the time zone of backup names and prune periods.
	Location *time.Location
}

// Service is the storage layer of one node: storage.cfg, the configured
// instances on this node and the API handlers.
type Service struct {
	o       Options
	plugins map[string]Plugin
	log     *slog.Logger

	mu        sync.Mutex
	instances map[string]*instance
	// volumeLocks serializes changes to the volumes of one storage
	// (allocation picks a free name, then creates it).
	volumeLocks map[string]*sync.Mutex
	usage       []api.NodeStorage
}

// instance is an opened storage, kept while its definition is unchanged.
type instance struct {
	key string // the section and secret it was opened from
	cfg Config
	st  Storage
}

// New builds the service.
func New(o Options) *Service {
	if o.LocalPath == "" {
		o.LocalPath = "/var/lib/vz"
	}
	if o.LocalContent == "" {
		o.LocalContent = "images,rootdir,iso,vztmpl,backup,snippets,import"
	}
	if o.ActivateTimeout == 0 {
		o.ActivateTimeout = 15 * time.Second
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	log := o.Env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		o.Env.Log = log
	}
	s := &Service{o: o, plugins: map[string]Plugin{}, log: log, instances: map[string]*instance{}, volumeLocks: map[string]*sync.Mutex{}}
	for _, p := range o.Plugins {
		s.plugins[p.Type()] = p
	}
	return s
}

// Plugin returns the type named typ.
func (s *Service) Plugin(typ string) (Plugin, bool) {
	p, ok := s.plugins[typ]
	return p, ok
}

// EnsureConfig writes the first storage.cfg of a new cluster, holding the
// local storage; an existing file is left alone.
func (s *Service) EnsureConfig(ctx context.Context) error {
	local := DefaultLocal(s.o.LocalPath)
	local.Set("content", s.o.LocalContent)
	d := &Definitions{Sections: []sectioncfg.Section{local}}
	_, err := s.o.Store.Apply(ctx, cfs.Write(CfgPath, d.Bytes()).If(cfs.Cond{MustNotExist: true}))
	if errors.Is(err, cfs.ErrConflict) {
		return nil
	}
	return err
}

// definitions reads storage.cfg as it is now, with its version.
func (s *Service) definitions() (*Definitions, []byte, uint64, error) {
	e, err := s.o.Store.Get(CfgPath)
	switch {
	case errors.Is(err, cfs.ErrNotFound):
	case err != nil:
		return nil, nil, 0, err
	}
	d, warnings := ParseDefinitions(e.Data, func(t string) bool { _, ok := s.plugins[t]; return ok }, DefaultLocal(s.o.LocalPath))
	for _, w := range warnings {
		s.log.Warn("storage.cfg: " + w)
	}
	return d, e.Data, e.Version, nil
}

// Configs returns every storage definition, in file order.
func (s *Service) Configs() ([]Config, error) {
	d, _, _, err := s.definitions()
	if err != nil {
		return nil, err
	}
	out := make([]Config, 0, len(d.Sections))
	for i := range d.Sections {
		sec := &d.Sections[i]
		out = append(out, ConfigOf(sec, s.plugins[sec.Type].Info()))
	}
	return out, nil
}

func (s *Service) secret(id string, info Info) (string, error) {
	key := secretKey(info)
	if key == "" {
		return "", nil
	}
	e, err := s.o.Store.Get(secretPath(id, key))
	if errors.Is(err, cfs.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(e.Data), nil
}

// Open returns storage id opened and activated on this node. It fails
// (with a 400) when the storage does not exist, is disabled or is not
// available on this node, and names the reason when activation fails.
func (s *Service) Open(ctx context.Context, id string) (Config, Storage, error) {
	cfg, st, err := s.instance(id)
	if err != nil {
		return cfg, nil, err
	}
	if err := s.activate(ctx, cfg, st); err != nil {
		return cfg, nil, err
	}
	return cfg, st, nil
}

// instance opens a storage without activating it.
func (s *Service) instance(id string) (Config, Storage, error) {
	d, _, _, err := s.definitions()
	if err != nil {
		return Config{}, nil, err
	}
	sec := d.Find(id)
	if sec == nil {
		return Config{}, nil, api.Errorf(http.StatusBadRequest, "storage '%s' does not exist", id)
	}
	p := s.plugins[sec.Type]
	cfg := ConfigOf(sec, p.Info())
	if !cfg.OnNode(s.o.Env.Node) {
		return cfg, nil, api.Errorf(http.StatusBadRequest, "storage '%s' is not available on node '%s'", id, s.o.Env.Node)
	}
	if cfg.Disable {
		return cfg, nil, api.Errorf(http.StatusBadRequest, "storage '%s' is disabled", id)
	}
	if cfg.Secret, err = s.secret(id, p.Info()); err != nil {
		return cfg, nil, err
	}
	key := string(sectioncfg.Print([]sectioncfg.Section{*sec})) + "\x00" + cfg.Secret
	s.mu.Lock()
	defer s.mu.Unlock()
	if in, ok := s.instances[id]; ok && in.key == key {
		return in.cfg, in.st, nil
	}
	st, err := p.Open(cfg, s.o.Env)
	if err != nil {
		return cfg, nil, api.Errorf(http.StatusBadRequest, "storage '%s': %v", id, err)
	}
	s.instances[id] = &instance{key: key, cfg: cfg, st: st}
	return cfg, st, nil
}

func (s *Service) activate(ctx context.Context, cfg Config, st Storage) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.ActivateTimeout)
	defer cancel()
	if err := st.Activate(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("storage '%s' is not online: no answer within %s", cfg.ID, s.o.ActivateTimeout)
		}
		return fmt.Errorf("storage '%s' is not online: %w", cfg.ID, err)
	}
	return nil
}

// lockVolumes serializes volume changes on one storage of this node.
func (s *Service) lockVolumes(id string) func() {
	s.mu.Lock()
	l, ok := s.volumeLocks[id]
	if !ok {
		l = &sync.Mutex{}
		s.volumeLocks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Routes binds the storage endpoints.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		api.StorageList.Handle(s.listDefinitions),
		api.StorageCreate.Handle(s.createDefinition),
		api.StorageGet.Handle(s.getDefinition),
		api.StorageUpdate.Handle(s.updateDefinition),
		api.StorageDelete.Handle(s.deleteDefinition),

		api.NodeStorageList.Handle(s.nodeStorages),
		api.NodeStorageIndex.Handle(func(context.Context, *api.Call, *api.NodeStorageParam) ([]api.Child, error) {
			var out []api.Child
			for _, n := range []string{"content", "download-url", "prunebackups", "status", "upload"} {
				out = append(out, api.Child{Subdir: n})
			}
			return out, nil
		}),
		api.NodeStorageStatus.Handle(s.nodeStorageStatus),
		api.ContentList.Handle(s.listContent),
		api.ContentAlloc.Handle(s.allocVolume),
		api.VolumeGet.Handle(s.volumeInfo),
		api.VolumeUpdate.Handle(s.updateVolume),
		api.VolumeCopy.Handle(s.copyVolume),
		api.VolumeDelete.Handle(s.deleteVolume),
		api.VolumePath.Handle(s.volumePath),
		api.StorageUpload.Handle(s.upload),
		api.StorageDownload.Handle(s.downloadURL),
		api.PruneList.Handle(s.pruneDryRun),
		api.PruneRun.Handle(s.prune),
		api.ExtractConfig.Handle(s.extractConfig),
	}
}

// Usage returns the state of this node's storages as last refreshed.
func (s *Service) Usage() []api.NodeStorage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

// Refresh asks every storage of this node for its state, in parallel,
// for Usage.
func (s *Service) Refresh(ctx context.Context) {
	cfgs, err := s.Configs()
	if err != nil {
		return
	}
	var mine []Config
	for _, c := range cfgs {
		if c.OnNode(s.o.Env.Node) {
			mine = append(mine, c)
		}
	}
	out := s.nodeStorageList(ctx, mine, false)
	s.mu.Lock()
	s.usage = out
	s.mu.Unlock()
}

// Run refreshes Usage every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
