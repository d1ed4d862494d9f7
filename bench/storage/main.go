// Command storage measures the storage layer.
//
// Upload: a file (2 GiB by default) is sent through the API of a real
// `hearth daemon` process as multipart/form-data into the local storage,
// the way the web interface and `pvesm upload` send it, and the time until
// the upload task has finished is set against `cp` of the same file into
// the same directory: the ratio is what the API path costs over a plain
// copy on this machine.
//
// Allocation and linked clones: disk allocations and linked clones per
// second through the dir (qcow2) and btrfs storage types, set against
// bare `qemu-img create` and `btrfs subvolume snapshot` loops, the
// commands the types run underneath. btrfs runs on a loop file and needs
// root.
//
//	go run ./bench/storage -binary bin/hearth [-size 2048] [-ops 200]
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/btrfs"
	"github.com/hearth-virt/hearth/internal/storage/dir"
)

func main() {
	binary := flag.String("binary", "bin/hearth", "hearth binary to start")
	sizeMiB := flag.Int("size", 2048, "size of the uploaded file in MiB")
	ops := flag.Int("ops", 200, "allocations and clones per measurement")
	flag.Parse()
	work, err := os.MkdirTemp("/var/tmp", "hearth-bench-storage-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	if err := uploadBench(*binary, work, int64(*sizeMiB)<<20); err != nil {
		fail(err)
	}
	if err := allocBench(work, *ops); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func uploadBench(binary, work string, size int64) error {
	src := filepath.Join(work, "source.iso")
	if err := writeFile(src, size); err != nil {
		return err
	}
	vz := filepath.Join(work, "vz")
	// cp into the directory uploads land in, on the same file system.
	os.MkdirAll(filepath.Join(vz, "template", "iso"), 0o755)
	dropCaches()
	start := time.Now()
	if out, err := exec.Command("cp", src, filepath.Join(vz, "template", "iso", "cp.iso")).CombinedOutput(); err != nil {
		return fmt.Errorf("cp: %v %s", err, out)
	}
	exec.Command("sync").Run()
	cpTime := time.Since(start)
	os.Remove(filepath.Join(vz, "template", "iso", "cp.iso"))

	base, cookie, csrf, stop, err := startDaemon(binary, work, vz)
	if err != nil {
		return err
	}
	defer stop()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	dropCaches()
	start = time.Now()
	upid, err := upload(client, base, cookie, csrf, src)
	if err != nil {
		return err
	}
	if err := waitTask(client, base, cookie, upid); err != nil {
		return err
	}
	exec.Command("sync").Run()
	upTime := time.Since(start)
	mib := float64(size) / (1 << 20)
	fmt.Printf("upload of %d MiB    cp: %6.2f s (%6.0f MiB/s)   API: %6.2f s (%6.0f MiB/s)   API/cp time: %.2f\n",
		size>>20, cpTime.Seconds(), mib/cpTime.Seconds(), upTime.Seconds(), mib/upTime.Seconds(), upTime.Seconds()/cpTime.Seconds())
	return nil
}

// writeFile fills a file with incompressible bytes.
func writeFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	block := make([]byte, 4<<20)
	seed := uint64(88172645463325252)
	for i := 0; i+8 <= len(block); i += 8 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		for j := 0; j < 8; j++ {
			block[i+j] = byte(seed >> (8 * j))
		}
	}
	for written := int64(0); written < size; written += int64(len(block)) {
		block[0]++
		if _, err := f.Write(block[:min(int64(len(block)), size-written)]); err != nil {
			return err
		}
	}
	return f.Sync()
}

// dropCaches starts each measurement with the source file read from disk.
func dropCaches() {
	exec.Command("sync").Run()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
}

func startDaemon(binary, work, vz string) (base, cookie, csrf string, stop func(), err error) {
	const password = "bench-password-1"
	pw := filepath.Join(work, "pw")
	os.WriteFile(pw, []byte(password+"\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(binary, "daemon", "--state-dir", filepath.Join(work, "state"), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--node", "bench", "--initial-password-file", pw, "--log-level", "warn", "--cfs-mount", "none",
		"--local-storage", vz, "--network-interfaces", filepath.Join(work, "interfaces"), "--nat-network", "none", "--gossip-port", "0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", "", "", nil, err
	}
	stop = func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "URL:") {
		n, err := stdout.Read(buf)
		if err != nil {
			stop()
			return "", "", "", nil, fmt.Errorf("daemon did not start: %v", err)
		}
		seen.Write(buf[:n])
	}
	go io.Copy(io.Discard, stdout)
	base = fmt.Sprintf("https://127.0.0.1:%d/api2/json", port)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.PostForm(base+"/access/ticket", url.Values{"username": {"admin@pve"}, "password": {password}})
	if err != nil {
		stop()
		return "", "", "", nil, err
	}
	defer resp.Body.Close()
	var login struct {
		Data struct {
			Ticket string `json:"ticket"`
			CSRF   string `json:"CSRFPreventionToken"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || login.Data.Ticket == "" {
		stop()
		return "", "", "", nil, fmt.Errorf("login failed: %s", resp.Status)
	}
	return base, login.Data.Ticket, login.Data.CSRF, stop, nil
}

// upload streams the file as multipart/form-data, as a browser does.
func upload(c *http.Client, base, cookie, csrf, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, _ := f.Stat()
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.WriteField("content", "iso")
	mw.CreateFormFile("filename", "bench.iso")
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	req, _ := http.NewRequest("POST", base+"/nodes/bench/storage/local/upload", io.MultiReader(&head, f, strings.NewReader(tail)))
	req.ContentLength = int64(head.Len()) + fi.Size() + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Cookie", "PVEAuthCookie="+cookie)
	req.Header.Set("CSRFPreventionToken", csrf)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Data string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("upload: %s", resp.Status)
	}
	return out.Data, nil
}

func waitTask(c *http.Client, base, cookie, upid string) error {
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", base+"/nodes/bench/tasks/"+url.PathEscape(upid)+"/status", nil)
		req.Header.Set("Cookie", "PVEAuthCookie="+cookie)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		var st struct {
			Data struct {
				Status     string `json:"status"`
				ExitStatus string `json:"exitstatus"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.Data.Status == "stopped" {
			if st.Data.ExitStatus != "OK" {
				return fmt.Errorf("upload task: %s", st.Data.ExitStatus)
			}
			return nil
		}
	}
	return fmt.Errorf("upload task did not finish")
}

func allocBench(work string, ops int) error {
	ctx := context.Background()
	env := storage.Env{Node: "bench", Runner: runner.Exec{}, Log: slog.New(slog.DiscardHandler)}
	dirPath := filepath.Join(work, "dir")
	d, err := dir.Plugin{}.Open(storage.Config{ID: "d", Type: "dir", Content: []storage.Content{storage.Images},
		Props: map[string]string{"path": dirPath}}, env)
	if err != nil {
		return err
	}
	if err := d.Activate(ctx); err != nil {
		return err
	}
	bare := filepath.Join(work, "bare")
	os.MkdirAll(bare, 0o755)
	rate("dir qcow2 alloc (1 GiB)", ops, func(i int) error {
		_, err := d.Alloc(ctx, 100, "", "qcow2", 1<<30)
		return err
	})
	rate("bare qemu-img create", ops, func(i int) error {
		return exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", filepath.Join(bare, fmt.Sprintf("d%d.qcow2", i)), "1G").Run()
	})
	base, err := d.(storage.Cloner).CreateBase(ctx, "100/vm-100-disk-0.qcow2")
	if err != nil {
		return err
	}
	rate("dir qcow2 linked clone", ops, func(i int) error {
		_, err := d.(storage.Cloner).Clone(ctx, base, 200, "")
		return err
	})
	rate("bare qemu-img create -b", ops, func(i int) error {
		return exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", filepath.Join(dirPath, "images", "100", "base-100-disk-0.qcow2"),
			filepath.Join(bare, fmt.Sprintf("c%d.qcow2", i))).Run()
	})
	if os.Geteuid() != 0 {
		fmt.Println("btrfs: skipped (a loop-mounted btrfs needs root)")
		return nil
	}
	mnt, cleanup, err := loopBtrfs(work)
	if err != nil {
		return err
	}
	defer cleanup()
	b, err := btrfs.Plugin{}.Open(storage.Config{ID: "b", Type: "btrfs", Content: []storage.Content{storage.Images, storage.Rootdir},
		Props: map[string]string{"path": mnt}}, env)
	if err != nil {
		return err
	}
	if err := b.Activate(ctx); err != nil {
		return err
	}
	rate("btrfs raw alloc (1 GiB)", ops, func(i int) error {
		_, err := b.Alloc(ctx, 100, "", "raw", 1<<30)
		return err
	})
	rate("btrfs subvol alloc (no quota)", ops, func(i int) error {
		_, err := b.Alloc(ctx, 101, "", "subvol", 0)
		return err
	})
	sbase, err := b.(storage.Cloner).CreateBase(ctx, "101/subvol-101-disk-0.subvol")
	if err != nil {
		return err
	}
	rate("btrfs subvol linked clone", ops, func(i int) error {
		_, err := b.(storage.Cloner).Clone(ctx, sbase, 300, "")
		return err
	})
	os.MkdirAll(filepath.Join(mnt, "bare"), 0o755)
	exec.Command("btrfs", "-q", "subvolume", "create", filepath.Join(mnt, "bare", "src")).Run()
	rate("bare btrfs subvolume snapshot", ops, func(i int) error {
		return exec.Command("btrfs", "-q", "subvolume", "snapshot", filepath.Join(mnt, "bare", "src"), filepath.Join(mnt, "bare", fmt.Sprintf("s%d", i))).Run()
	})
	return nil
}

func rate(name string, n int, op func(i int) error) {
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := op(i); err != nil {
			fmt.Printf("%-32s failed at %d: %v\n", name, i, err)
			return
		}
	}
	el := time.Since(start)
	fmt.Printf("%-32s %7.1f ops/s  (%d in %.2f s)\n", name, float64(n)/el.Seconds(), n, el.Seconds())
}

func loopBtrfs(work string) (string, func(), error) {
	img := filepath.Join(work, "btrfs.img")
	mnt := filepath.Join(work, "btrfs")
	os.MkdirAll(mnt, 0o755)
	for _, c := range [][]string{{"truncate", "-s", "4G", img}, {"mkfs.btrfs", "-f", "-q", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("%v: %v %s", c, err, out)
		}
	}
	return mnt, func() { exec.Command("umount", mnt).Run() }, nil
}
