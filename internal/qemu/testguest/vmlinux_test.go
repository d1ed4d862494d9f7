package testguest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"testing"
)

// fakeELF is a minimal x86-64 executable whose only program header is a
// note segment with one note.
func fakeELF(noteName string, noteType uint32) []byte {
	var note bytes.Buffer
	name := append([]byte(noteName), 0)
	binary.Write(&note, binary.LittleEndian, []uint32{uint32(len(name)), 4, noteType})
	note.Write(name)
	for note.Len()%4 != 0 {
		note.WriteByte(0)
	}
	note.Write([]byte{1, 2, 3, 4})

	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	binary.Write(&b, binary.LittleEndian, struct {
		Type, Machine                              uint16
		Version                                    uint32
		Entry, Phoff, Shoff                        uint64
		Flags                                      uint32
		Ehsize, Phentsize, Phnum, Shentsize, Shnum uint16
		Shstrndx                                   uint16
	}{2, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0})
	binary.Write(&b, binary.LittleEndian, struct {
		Type, Flags                             uint32
		Off, Vaddr, Paddr, Filesz, Memsz, Align uint64
	}{4, 4, 120, 0, 0, uint64(note.Len()), uint64(note.Len()), 4})
	b.Write(note.Bytes())
	return b.Bytes()
}

// fakeBzImage wraps a payload the way the kernel build does: setup
// sectors with the "HdrS" header, then the compressed kernel followed by
// its uncompressed size.
func fakeBzImage(payload []byte, uncompressed int) []byte {
	const setupSects = 2
	img := make([]byte, (setupSects+1)*512)
	img[setupSectsOffset] = setupSects
	copy(img[headerMagicOffset:], "HdrS")
	binary.LittleEndian.PutUint16(img[headerVersionOffset:], 0x20f)
	const offset = 100 // decompressor code would sit before the payload
	img = append(img, make([]byte, offset)...)
	img = binary.LittleEndian.AppendUint32(append(img, payload...), uint32(uncompressed))
	binary.LittleEndian.PutUint32(img[payloadOffsetOffset:], offset)
	binary.LittleEndian.PutUint32(img[payloadLengthOffset:], uint32(len(payload)+4))
	return append(img, make([]byte, 64)...) // trailing padding
}

func gzipped(data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func TestExtractVmlinux(t *testing.T) {
	pvh := fakeELF("Xen", xenElfnotePhys32Entry)
	if !hasPVHNote(pvh) {
		t.Fatal("the fake PVH kernel has no PVH note")
	}
	tests := []struct {
		name    string
		image   func(t *testing.T) []byte
		want    []byte
		wantErr error
	}{
		{"gzip payload", func(*testing.T) []byte { return fakeBzImage(gzipped(pvh), len(pvh)) }, pvh, nil},
		{"xz payload", func(t *testing.T) []byte { return fakeBzImage(compress(t, "xz", pvh), len(pvh)) }, pvh, nil},
		{"zstd payload", func(t *testing.T) []byte { return fakeBzImage(compress(t, "zstd", pvh), len(pvh)) }, pvh, nil},
		{"no PVH note", func(*testing.T) []byte {
			other := fakeELF("Xen", 5)
			return fakeBzImage(gzipped(other), len(other))
		}, nil, errNoPVH},
		{"note of another owner", func(*testing.T) []byte {
			other := fakeELF("GNU", xenElfnotePhys32Entry)
			return fakeBzImage(gzipped(other), len(other))
		}, nil, errNoPVH},
		{"unknown compression", func(*testing.T) []byte { return fakeBzImage([]byte("LZ4!data"), 4) }, nil, errNoPVH},
		{"not a bzImage", func(*testing.T) []byte { return pvh }, nil, errNoPVH},
		{"payload past the end", func(*testing.T) []byte {
			img := fakeBzImage(gzipped(pvh), len(pvh))
			binary.LittleEndian.PutUint32(img[payloadLengthOffset:], 1<<30)
			return img
		}, nil, errNoPVH},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := extractVmlinux(context.Background(), tt.image(t))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("extracted %d bytes, %v; want the %d-byte kernel", len(got), err, len(tt.want))
			}
		})
	}
}

func FuzzHasPVHNote(f *testing.F) {
	f.Add(fakeELF("Xen", xenElfnotePhys32Entry))
	f.Add(fakeELF("Xen", 5))
	f.Fuzz(func(t *testing.T, data []byte) {
		hasPVHNote(data) // must not panic on any input
	})
}
