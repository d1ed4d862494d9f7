package testguest

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hearth-virt/hearth/internal/runner"
)

// Under TCG, a bzImage spends about three seconds decompressing itself
// (Debian compresses with xz). QEMU also boots an uncompressed ELF
// kernel directly through its PVH entry point, which the Debian kernel
// has (CONFIG_PVH): extracting it once at build time halves the time to
// a ready guest.

// Offsets in the x86 boot protocol's setup header.
const (
	setupSectsOffset    = 0x1f1
	headerMagicOffset   = 0x202
	headerVersionOffset = 0x206
	payloadOffsetOffset = 0x248
	payloadLengthOffset = 0x24c
)

// errNoPVH marks a kernel that cannot boot through PVH; the build then
// keeps the bzImage.
var errNoPVH = errors.New("kernel has no PVH entry point")

// extractVmlinux returns the uncompressed ELF kernel inside a bzImage,
// checked to carry the PVH entry note QEMU needs to boot it.
func extractVmlinux(ctx context.Context, bzImage []byte) ([]byte, error) {
	payload, err := bzImagePayload(bzImage)
	if err != nil {
		return nil, err
	}
	var vmlinux []byte
	switch {
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("kernel payload: %w", err)
		}
		zr.Multistream(false) // the size the kernel build appends is not a stream
		vmlinux, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("kernel payload: %w", err)
		}
	case bytes.HasPrefix(payload, []byte("\xfd7zXZ\x00")):
		vmlinux, err = decompress(ctx, "xz", payload, "--single-stream")
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}) && len(payload) > 4:
		// zstd refuses trailing bytes: drop the appended size.
		vmlinux, err = decompress(ctx, "zstd", payload[:len(payload)-4])
	default:
		return nil, fmt.Errorf("%w: kernel payload compression not handled (starts % x)", errNoPVH, payload[:min(6, len(payload))])
	}
	if err != nil {
		return nil, fmt.Errorf("kernel payload: %w", err)
	}
	if !hasPVHNote(vmlinux) {
		return nil, errNoPVH
	}
	return vmlinux, nil
}

// bzImagePayload cuts the compressed kernel out of a bzImage, using the
// payload fields the boot protocol has had since version 2.08.
func bzImagePayload(img []byte) ([]byte, error) {
	if len(img) < payloadLengthOffset+4 || string(img[headerMagicOffset:headerMagicOffset+4]) != "HdrS" {
		return nil, fmt.Errorf("%w: not a bzImage", errNoPVH)
	}
	if v := binary.LittleEndian.Uint16(img[headerVersionOffset:]); v < 0x208 {
		return nil, fmt.Errorf("%w: boot protocol %x.%02x predates payload fields", errNoPVH, v>>8, v&0xff)
	}
	sects := int(img[setupSectsOffset])
	if sects == 0 {
		sects = 4
	}
	start := (sects+1)*512 + int(binary.LittleEndian.Uint32(img[payloadOffsetOffset:]))
	end := start + int(binary.LittleEndian.Uint32(img[payloadLengthOffset:]))
	if start >= end || end > len(img) {
		return nil, fmt.Errorf("%w: payload %d..%d outside the %d-byte image", errNoPVH, start, end, len(img))
	}
	return img[start:end], nil
}

// xenElfnotePhys32Entry is the note type of the 32-bit PVH entry point.
const xenElfnotePhys32Entry = 18

// hasPVHNote reports whether an ELF kernel names a PVH entry point: a
// "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY.
func hasPVHNote(vmlinux []byte) bool {
	ef, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil || ef.Machine != elf.EM_X86_64 {
		return false
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		// Open bounds the read by the file's real size, whatever the
		// header claims.
		data, err := io.ReadAll(p.Open())
		if err != nil {
			continue
		}
		for len(data) >= 12 {
			namesz := int(binary.LittleEndian.Uint32(data))
			descsz := int(binary.LittleEndian.Uint32(data[4:]))
			typ := binary.LittleEndian.Uint32(data[8:])
			nameEnd := 12 + align4(namesz)
			next := nameEnd + align4(descsz)
			if namesz < 0 || descsz < 0 || next > len(data) || next <= 0 {
				break
			}
			if typ == xenElfnotePhys32Entry && string(bytes.TrimRight(data[12:12+namesz], "\x00")) == "Xen" {
				return true
			}
			data = data[next:]
		}
	}
	return false
}

func align4(n int) int { return (n + 3) &^ 3 }

// decompress runs a decompressing tool (xz, zstd) over data: Go's
// standard library has neither format.
func decompress(ctx context.Context, tool string, data []byte, args ...string) ([]byte, error) {
	res, err := runner.Exec{}.Run(ctx, runner.Cmd{Name: tool, Args: append([]string{"-dc"}, args...), Stdin: bytes.NewReader(data)})
	if err != nil {
		return nil, err
	}
	return res.Stdout, nil
}
