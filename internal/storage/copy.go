package storage

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/runner"
)

// imageSpec is the json: file name of a volume's format layer above its
// protocol node, which qemu-img opens on any storage type alike.
func imageSpec(a Attachment) string {
	return BlockdevJSON(map[string]any{"driver": a.Format, "file": a.Blockdev})
}

func (s *Service) copyVolume(ctx context.Context, c *api.Call, in *api.VolumeCopyParams) (api.Task, error) {
	srcCfg, src, volname, v, err := s.volume(ctx, c, in.Storage, in.Volume, false)
	if err != nil {
		return api.Task{}, err
	}
	if in.TargetNode != "" && in.TargetNode != s.o.Env.Node {
		return api.Task{}, api.ParamError("target_node", "copies stay on this node; moving data to node %s is what guest migration does", in.TargetNode)
	}
	if v.Content != Images && v.Content != Rootdir {
		return api.Task{}, api.ParamError("volume", "only disk images and container volumes can be copied")
	}
	targetID, targetName, _ := strings.Cut(in.Target, ":")
	if !ValidStorageID(targetID) {
		return api.Task{}, api.ParamError("target", "%q is neither a storage id nor a volume id", in.Target)
	}
	if c.Perm == nil || !c.Perm.Has("/storage/"+targetID, "Datastore.AllocateSpace") {
		return api.Task{}, &api.Denied{Path: "/storage/" + targetID, Priv: "Datastore.AllocateSpace"}
	}
	dstCfg, dst, err := s.Open(ctx, targetID)
	if err != nil {
		return api.Task{}, err
	}
	srcVol, err := src.Volume(ctx, volname)
	if err != nil {
		return api.Task{}, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	info := s.plugins[dstCfg.Type].Info()
	format := srcVol.Format
	if m := imageExtRE.FindStringSubmatch(targetName); m != nil {
		format = m[1]
	}
	if !slices.Contains(info.Formats, format) {
		if format == "subvol" {
			return api.Task{}, api.ParamError("target", "storage '%s' cannot hold container subvolumes", targetID)
		}
		format = info.DefaultFormat
	}
	vmid := v.VMID
	if targetName != "" {
		tv, err := parseVolname(dst, targetName)
		if err != nil {
			return api.Task{}, api.ParamError("target", "%v", err)
		}
		vmid = tv.VMID
		if _, isFile := dst.(FileStore); isFile {
			targetName = tv.Name
		}
	}
	srcID := srcCfg.ID + ":" + volname
	return api.Task{Type: "imgcopy", Run: func(ctx context.Context, log api.TaskLog) error {
		unlock := s.lockVolumes(targetID)
		newName, err := dst.Alloc(ctx, vmid, targetName, format, srcVol.Size)
		unlock()
		if err != nil {
			return err
		}
		newID := targetID + ":" + newName
		log.Printf("copying %s to %s (%s, %d bytes)", srcID, newID, format, srcVol.Size)
		if err := s.copyData(ctx, src, volname, srcVol.Format, dst, newName, format, log); err != nil {
			log.Printf("copy failed; removing %s", newID)
			if ferr := dst.Free(context.WithoutCancel(ctx), newName); ferr != nil {
				log.Warnf("could not remove %s: %v", newID, ferr)
			}
			return err
		}
		log.Printf("copied %s to %s", srcID, newID)
		return nil
	}}, nil
}

// copyData copies the content of one volume into another that exists:
// subvolumes as a tar stream, images through qemu-img.
func (s *Service) copyData(ctx context.Context, src Storage, srcName, srcFormat string, dst Storage, dstName, dstFormat string, log api.TaskLog) error {
	if srcFormat == "subvol" || dstFormat == "subvol" {
		return s.copySubvol(ctx, src, srcName, dst, dstName)
	}
	sa, err := src.Attach(ctx, srcName, "")
	if err != nil {
		return err
	}
	da, err := dst.Attach(ctx, dstName, "")
	if err != nil {
		return err
	}
	da.Format = dstFormat
	cmd := runner.Cmd{Name: "qemu-img", Args: []string{"convert", "-n", "-O", dstFormat, imageSpec(sa), imageSpec(da)}}
	if _, err := s.o.Env.Runner.Run(ctx, cmd); err != nil {
		return err
	}
	return nil
}

// copySubvol copies a container subvolume's files into another.
func (s *Service) copySubvol(ctx context.Context, src Storage, srcName string, dst Storage, dstName string) error {
	sa, err := src.Attach(ctx, srcName, "")
	if err != nil {
		return err
	}
	da, err := dst.Attach(ctx, dstName, "")
	if err != nil {
		return err
	}
	if sa.Path == "" || da.Path == "" || sa.Format != "subvol" || da.Format != "subvol" {
		return fmt.Errorf("container subvolumes copy only between subvolumes with a local path")
	}
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := s.o.Env.Runner.Run(ctx, runner.Cmd{Name: "tar", Args: []string{"-C", sa.Path, "--xattrs", "--acls", "--numeric-owner", "-cpf", "-", "."}, Stdout: pw})
		pw.CloseWithError(err)
		errc <- err
	}()
	_, err = s.o.Env.Runner.Run(ctx, runner.Cmd{Name: "tar", Args: []string{"-C", da.Path, "--xattrs", "--acls", "--numeric-owner", "-xpf", "-"}, Stdin: pr})
	pr.CloseWithError(err)
	if serr := <-errc; serr != nil {
		return serr
	}
	return err
}
