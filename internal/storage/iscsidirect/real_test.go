package iscsidirect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
	"github.com/hearth-virt/hearth/internal/storage/iscsitest"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

// TestRealTarget lists, sizes and attaches the LUNs of a real tgtd
// target with the real libiscsi tools, then writes and reads data
// through QEMU's iscsi driver with exactly the blockdev Attach returns,
// and checks the bytes landed in the right LUN's backing file.
func TestRealTarget(t *testing.T) {
	needTools(t, "iscsi-ls", "iscsi-readcapacity16", "qemu-img", "qemu-io")
	tg := iscsitest.Start(t, 64<<20, 1536<<20)
	other := tg.AddTarget(t, 8<<20, 8<<20, 8<<20)
	st, err := Plugin{}.Open(storage.Config{ID: "direct", Type: "iscsidirect",
		Props: map[string]string{"portal": tg.Portal, "target": tg.IQN}}, storage.Env{Node: "n1", Runner: runner.Exec{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := st.Activate(ctx); err != nil {
		t.Fatal(err)
	}

	vols, err := st.List(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vols {
		got = append(got, fmt.Sprintf("%s:%d:%s", v.Volname, v.Size, v.Format))
	}
	// Target "other" has a lun3 on the same portal; it must not show.
	if want := []string{"lun1:67108864:raw", "lun2:1610612736:raw"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("List = %v, want %v (other target %s must not show)", got, want, other.IQN)
	}
	status, err := st.Status(ctx)
	if err != nil || status != (storage.Status{Active: true, Total: 1600 << 20, Used: 1600 << 20}) {
		t.Errorf("Status = %+v, %v", status, err)
	}
	if v, err := st.Volume(ctx, "lun2"); err != nil || v.Size != 1536<<20 {
		t.Errorf("Volume(lun2) = %+v, %v", v, err)
	}
	if _, err := st.Volume(ctx, "lun3"); err == nil || !strings.Contains(err.Error(), "has no LUN 3") {
		t.Errorf("Volume(lun3) on a target with two LUNs: %v", err)
	}

	a, err := st.Attach(ctx, "lun1", "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := exec.CommandContext(ctx, "qemu-img", "info", "--output=json", a.Path).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v: %s", a.Path, err, info)
	}
	var img struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(info, &img); err != nil || img.VirtualSize != 64<<20 {
		t.Errorf("qemu-img info %s: size %d, %v: %s", a.Path, img.VirtualSize, err, info)
	}

	node, err := json.Marshal(map[string]any{"driver": a.Format, "file": a.Blockdev})
	if err != nil {
		t.Fatal(err)
	}
	image := "json:" + string(node)
	qemuIO := func(cmd string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "qemu-io", "-c", cmd, image).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("Pattern verification failed")) || bytes.Contains(out, []byte("error")) {
			t.Fatalf("qemu-io -c %q %s: %v: %s", cmd, image, err, out)
		}
		return string(out)
	}
	qemuIO("write -P 0xa5 1M 1M")
	qemuIO("read -P 0xa5 1M 1M")

	checkFile := func(path string, off int64, want byte) {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		if _, err := io.ReadFull(io.NewSectionReader(f, off, int64(len(buf))), buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, bytes.Repeat([]byte{want}, len(buf))) {
			t.Errorf("%s at %d: not all 0x%02x", path, off, want)
		}
	}
	checkFile(tg.LUNs[0].File, 1<<20, 0xa5)
	checkFile(tg.LUNs[1].File, 1<<20, 0)
	for _, l := range other.LUNs {
		checkFile(l.File, 1<<20, 0)
	}
}
