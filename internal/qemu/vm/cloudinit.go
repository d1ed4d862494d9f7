package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/qemu/cloudinit"
	"github.com/hearth-virt/hearth/internal/qemu/cmdline"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// cloudInitDrive returns the key and drive of a VM's cloud-init drive.
func cloudInitDrive(values map[string]string) (string, *vmconf.Drive) {
	for _, key := range vmconf.DriveKeys() {
		v, ok := values[key]
		if !ok {
			continue
		}
		if d, err := vmconf.ParseDrive(key, v); err == nil && d.IsCloudInit() {
			return key, d
		}
	}
	return "", nil
}

// cloudInitSpec builds the drive's content from the configuration, with
// the cicustom snippets read from their storages.
func (s *Service) cloudInitSpec(ctx context.Context, vmid int, values map[string]string) (cloudinit.Spec, error) {
	custom := map[string]string{}
	if v := values["cicustom"]; v != "" {
		vols, err := cloudinit.ParseCICustom(v)
		if err != nil {
			return cloudinit.Spec{}, fmt.Errorf("cicustom: %w", err)
		}
		for kind, volid := range vols {
			a, err := s.attachFile(ctx, volid, "")
			if err != nil {
				return cloudinit.Spec{}, fmt.Errorf("cicustom %s: %w", kind, err)
			}
			data, err := os.ReadFile(a.Path)
			if err != nil {
				return cloudinit.Spec{}, fmt.Errorf("cicustom %s: %w", kind, err)
			}
			custom[kind] = string(data)
		}
	}
	return cloudinit.FromConfig(vmid, values, custom)
}

// prepareCloudInit writes the cloud-init drive of a VM that has one, from
// its current configuration, and records what it was built from.
func (s *Service) prepareCloudInit(ctx context.Context, c *conf, in *cmdline.Input, log api.TaskLog) error {
	values := in.Config
	key, d := cloudInitDrive(values)
	if d == nil {
		return nil
	}
	if err := s.rebuildCloudInit(ctx, c, values, key, d); err != nil {
		return err
	}
	if err := s.save(ctx, c); err != nil {
		return err
	}
	log.Printf("%s: cloud-init drive written", key)
	return nil
}

// rebuildCloudInit writes the drive from values and records in the
// [special:cloudinit] section what it was built from; the caller saves.
func (s *Service) rebuildCloudInit(ctx context.Context, c *conf, values map[string]string, key string, d *vmconf.Drive) error {
	if err := s.writeCloudInit(ctx, c.VMID, values, d); err != nil {
		return fmt.Errorf("%s: writing the cloud-init drive: %w", key, err)
	}
	for _, k := range c.File.CloudInit.Keys() {
		c.File.CloudInit.Delete(k)
	}
	for k, v := range cloudinit.Recorded(values) {
		_ = c.File.CloudInit.Set(k, v)
	}
	return nil
}

// writeCloudInit generates the drive's files and writes them as an ISO
// image into the drive's volume.
func (s *Service) writeCloudInit(ctx context.Context, vmid int, values map[string]string, d *vmconf.Drive) error {
	spec, err := s.cloudInitSpec(ctx, vmid, values)
	if err != nil {
		return err
	}
	files, err := cloudinit.Generate(spec)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hearth-cloudinit-"+strconv.Itoa(vmid)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	iso := filepath.Join(tmp, "cloudinit.iso")
	format, err := cloudinit.Format(spec.Type, spec.OSType)
	if err != nil {
		return err
	}
	if err := cloudinit.WriteISO(ctx, s.o.Runner, files, cloudinit.Label(format), iso); err != nil {
		return err
	}
	v, err := s.openVolume(ctx, d.File)
	if err != nil {
		return err
	}
	imgFormat := v.vol.Format
	if imgFormat == "" {
		imgFormat = "raw"
	}
	return s.copyInto(ctx, iso, d.File, v.st, v.Name, imgFormat)
}

func (s *Service) cloudInitRoutes() []api.Route {
	return []api.Route{
		api.CloudInitPending.Handle(func(_ context.Context, _ *api.Call, in *api.VMParam) ([]api.VMPending, error) {
			c, err := s.load(in.VMID)
			if err != nil {
				return nil, err
			}
			built := map[string]string{}
			for _, k := range c.File.CloudInit.Keys() {
				built[k] = c.File.CloudInit.Value(k)
			}
			current := mainValues(c)
			for _, k := range c.File.Pending.Keys() {
				current[k] = c.File.Pending.Value(k)
			}
			out := []api.VMPending{}
			for _, r := range cloudinit.Rows(built, current) {
				row := api.VMPending{Key: r.Key}
				if r.Value != "" {
					row.Value = r.Value
				}
				if r.Pending != "" {
					row.Pending = r.Pending
				}
				if r.Delete {
					row.Delete = 1
				}
				out = append(out, row)
			}
			return out, nil
		}),
		api.CloudInitUpdate.Handle(func(ctx context.Context, _ *api.Call, in *api.VMParam) (any, error) {
			unlock := s.lock(in.VMID)
			defer unlock()
			c, err := s.load(in.VMID)
			if err != nil {
				return nil, err
			}
			values := mainValues(c)
			key, d := cloudInitDrive(values)
			if d == nil {
				return nil, api.Errorf(500, "VM %d has no cloud-init drive", in.VMID)
			}
			if err := s.rebuildCloudInit(ctx, c, values, key, d); err != nil {
				return nil, err
			}
			return nil, s.save(ctx, c)
		}),
		api.CloudInitDump.Handle(func(ctx context.Context, _ *api.Call, in *api.CloudInitDumpParams) (string, error) {
			c, err := s.load(in.VMID)
			if err != nil {
				return "", err
			}
			spec, err := s.cloudInitSpec(ctx, in.VMID, mainValues(c))
			if err != nil {
				return "", err
			}
			return cloudinit.Dump(spec, in.Type)
		}),
	}
}
