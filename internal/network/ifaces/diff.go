package ifaces

import (
	"math"
	"strconv"
	"strings"
)

// Diff returns the differences between oldText and newText as `diff -u` prints
// them (without timestamps on the --- and +++ lines), or "" when they are
// equal. It is what Proxmox VE shows as the pending "changes" between
// interfaces and interfaces.new. To agree with GNU diff line for line, it
// follows GNU diff's choices: the same trimming of common lines, the same
// discarding of lines without a match, the same middle-snake search and
// the same sliding of changes to their final place.
func Diff(oldName, newName string, oldText, newText []byte) string {
	if string(oldText) == string(newText) {
		return ""
	}
	a, b := splitKeep(string(oldText)), splitKeep(string(newText))
	ca, cb := diffLines(a, b)
	return unified(oldName, newName, a, b, ca, cb)
}

// splitKeep splits text into lines that keep their "\n"; a last line
// without one stays different from the same text with one.
func splitKeep(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// horizon is the number of identical lines GNU diff keeps around the
// changed middle of two files (its context, 3 for -u) before it compares.
const horizon = 3

// diffLines marks the lines of a deleted and of b inserted.
func diffLines(a, b []string) (changedA, changedB []bool) {
	classes := map[string]int{}
	class := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			c, ok := classes[l]
			if !ok {
				c = len(classes) + 1
				classes[l] = c
			}
			out[i] = c
		}
		return out
	}
	ea, eb := class(a), class(b)

	// Like GNU diff, leave the common head and tail out of the comparison
	// except for a few lines next to the changes.
	pre := 0
	for pre < len(ea) && pre < len(eb) && ea[pre] == eb[pre] {
		pre++
	}
	pre = max(0, pre-horizon)
	suf := 0
	for suf < len(ea)-pre && suf < len(eb)-pre && ea[len(ea)-1-suf] == eb[len(eb)-1-suf] {
		suf++
	}
	suf = max(0, suf-horizon)

	d := newGnuDiff(ea[pre:len(ea)-suf], eb[pre:len(eb)-suf])
	d.run()
	changedA = make([]bool, len(a))
	changedB = make([]bool, len(b))
	copy(changedA[pre:], d.ch[0][1:len(d.ch[0])-1])
	copy(changedB[pre:], d.ch[1][1:len(d.ch[1])-1])
	return changedA, changedB
}

// gnuDiff holds the state of GNU diff's comparison of two line windows.
type gnuDiff struct {
	eq   [2][]int  // equivalence classes of each window
	ch   [2][]bool // changed flags, with a false sentinel at each end
	und  [2][]int  // classes of the lines that were not discarded
	real [2][]int  // window index of each undiscarded line
	fd   []int     // forward and backward furthest reach per diagonal
	bd   []int
	off  int // diagonal d is at index d+off
}

func newGnuDiff(ea, eb []int) *gnuDiff {
	d := &gnuDiff{eq: [2][]int{ea, eb}}
	for f := range 2 {
		d.ch[f] = make([]bool, len(d.eq[f])+2)
	}
	return d
}

// changed and setChanged address the flags by window index.
func (d *gnuDiff) changed(f, i int) bool { return d.ch[f][i+1] }

func (d *gnuDiff) setChanged(f, i int, v bool) { d.ch[f][i+1] = v }

func (d *gnuDiff) run() {
	d.discardConfusingLines()
	n0, n1 := len(d.und[0]), len(d.und[1])
	d.off = n1 + 1
	d.fd = make([]int, n0+n1+3)
	d.bd = make([]int, n0+n1+3)
	d.compareseq(0, n0, 0, n1)
	d.shiftBoundaries()
}

// discardConfusingLines follows GNU diff: a line with no match in the
// other file is certainly changed and is left out of the search, and so
// is, with some care, a line with very many matches.
func (d *gnuDiff) discardConfusingLines() {
	var counts [2]map[int]int
	for f := range 2 {
		counts[f] = map[int]int{}
		for _, e := range d.eq[f] {
			counts[f][e]++
		}
	}
	var discards [2][]byte
	for f := range 2 {
		end := len(d.eq[f])
		discards[f] = make([]byte, end)
		many := 5
		for tem := end / 64; ; {
			if tem >>= 2; tem <= 0 {
				break
			}
			many *= 2
		}
		for i, e := range d.eq[f] {
			switch n := counts[1-f][e]; {
			case n == 0:
				discards[f][i] = 1
			case n > many:
				discards[f][i] = 2
			}
		}
	}
	for f := range 2 {
		cancelProvisional(discards[f])
	}
	for f := range 2 {
		for i, e := range d.eq[f] {
			if discards[f][i] == 0 {
				d.und[f] = append(d.und[f], e)
				d.real[f] = append(d.real[f], i)
			} else {
				d.setChanged(f, i, true)
			}
		}
	}
}

// cancelProvisional keeps a line with many matches in the comparison
// unless it sits inside a run of lines without matches, as GNU diff does.
func cancelProvisional(discards []byte) {
	end := len(discards)
	for i := 0; i < end; i++ {
		if discards[i] == 2 {
			discards[i] = 0
			continue
		}
		if discards[i] == 0 {
			continue
		}
		j, provisional := i, 0
		for ; j < end && discards[j] != 0; j++ {
			if discards[j] == 2 {
				provisional++
			}
		}
		for j > i && discards[j-1] == 2 {
			j--
			discards[j] = 0
			provisional--
		}
		length := j - i
		if provisional*4 > length {
			for ; j > i; j-- {
				if discards[j-1] == 2 {
					discards[j-1] = 0
				}
			}
		} else {
			minimum := 1
			for tem := length >> 2; ; {
				if tem >>= 2; tem <= 0 {
					break
				}
				minimum <<= 1
			}
			minimum++
			consec := 0
			for j = 0; j < length; j++ {
				if discards[i+j] != 2 {
					consec = 0
					continue
				}
				consec++
				if consec == minimum {
					j -= consec // back to the start of the subrun, to cancel it all
				} else if consec > minimum {
					discards[i+j] = 0
				}
			}
			consec = 0
			for j = 0; j < length; j++ {
				if j >= 8 && discards[i+j] == 1 {
					break
				}
				if discards[i+j] == 2 {
					consec = 0
					discards[i+j] = 0
				} else if discards[i+j] == 0 {
					consec = 0
				} else {
					consec++
				}
				if consec == 3 {
					break
				}
			}
			i += length - 1
			consec = 0
			for j = 0; j < length; j++ {
				if j >= 8 && discards[i-j] == 1 {
					break
				}
				if discards[i-j] == 2 {
					consec = 0
					discards[i-j] = 0
				} else if discards[i-j] == 0 {
					consec = 0
				} else {
					consec++
				}
				if consec == 3 {
					break
				}
			}
		}
	}
}

// compareseq finds a minimal edit script of und[0][xoff:xlim] and
// und[1][yoff:ylim] by splitting at a middle snake, as GNU diff does.
func (d *gnuDiff) compareseq(xoff, xlim, yoff, ylim int) {
	xv, yv := d.und[0], d.und[1]
	for xoff < xlim && yoff < ylim && xv[xoff] == yv[yoff] {
		xoff++
		yoff++
	}
	for xoff < xlim && yoff < ylim && xv[xlim-1] == yv[ylim-1] {
		xlim--
		ylim--
	}
	switch {
	case xoff == xlim:
		for ; yoff < ylim; yoff++ {
			d.setChanged(1, d.real[1][yoff], true)
		}
	case yoff == ylim:
		for ; xoff < xlim; xoff++ {
			d.setChanged(0, d.real[0][xoff], true)
		}
	default:
		xmid, ymid := d.diag(xoff, xlim, yoff, ylim)
		d.compareseq(xoff, xmid, yoff, ymid)
		d.compareseq(xmid, xlim, ymid, ylim)
	}
}

// diag searches from both ends at once for the middle snake of an
// optimal path (Myers' linear-space algorithm), returning a point on it.
func (d *gnuDiff) diag(xoff, xlim, yoff, ylim int) (int, int) {
	fd, bd, off := d.fd, d.bd, d.off
	xv, yv := d.und[0], d.und[1]
	dmin, dmax := xoff-ylim, xlim-yoff
	fmid, bmid := xoff-yoff, xlim-ylim
	fmin, fmax, bmin, bmax := fmid, fmid, bmid, bmid
	odd := (fmid-bmid)&1 != 0
	fd[off+fmid] = xoff
	bd[off+bmid] = xlim
	for {
		if fmin > dmin {
			fmin--
			fd[off+fmin-1] = -1
		} else {
			fmin++
		}
		if fmax < dmax {
			fmax++
			fd[off+fmax+1] = -1
		} else {
			fmax--
		}
		for k := fmax; k >= fmin; k -= 2 {
			tlo, thi := fd[off+k-1], fd[off+k+1]
			x := tlo + 1
			if tlo < thi {
				x = thi
			}
			y := x - k
			for x < xlim && y < ylim && xv[x] == yv[y] {
				x++
				y++
			}
			fd[off+k] = x
			if odd && bmin <= k && k <= bmax && bd[off+k] <= x {
				return x, y
			}
		}
		if bmin > dmin {
			bmin--
			bd[off+bmin-1] = math.MaxInt
		} else {
			bmin++
		}
		if bmax < dmax {
			bmax++
			bd[off+bmax+1] = math.MaxInt
		} else {
			bmax--
		}
		for k := bmax; k >= bmin; k -= 2 {
			tlo, thi := bd[off+k-1], bd[off+k+1]
			x := thi - 1
			if tlo < thi {
				x = tlo
			}
			y := x - k
			for xoff < x && yoff < y && xv[x-1] == yv[y-1] {
				x--
				y--
			}
			bd[off+k] = x
			if !odd && fmin <= k && k <= fmax && x <= fd[off+k] {
				return x, y
			}
		}
	}
}

// shiftBoundaries slides each run of changes as GNU diff does: up to
// merge with earlier runs, then down as far as it goes, then back up to
// line up with a run of changes in the other file.
func (d *gnuDiff) shiftBoundaries() {
	for f := range 2 {
		eq := d.eq[f]
		ch := func(i int) bool { return d.changed(f, i) }
		set := func(i int, v bool) { d.setChanged(f, i, v) }
		other := func(j int) bool { return d.changed(1-f, j) }
		i, j, iEnd := 0, 0, len(eq)
		for {
			for i < iEnd && !ch(i) {
				for other(j) {
					j++
				}
				j++
				i++
			}
			if i == iEnd {
				break
			}
			start := i
			for i++; ch(i); i++ {
			}
			for other(j) {
				j++
			}
			var runlength, corresponding int
			for {
				runlength = i - start
				for start > 0 && eq[start-1] == eq[i-1] {
					start--
					set(start, true)
					i--
					set(i, false)
					for ch(start - 1) {
						start--
					}
					for j--; other(j); j-- {
					}
				}
				corresponding = iEnd
				if other(j - 1) {
					corresponding = i
				}
				for i != iEnd && eq[start] == eq[i] {
					set(start, false)
					start++
					set(i, true)
					i++
					for ch(i) {
						i++
					}
					for j++; other(j); j++ {
						corresponding = i
					}
				}
				if runlength == i-start {
					break
				}
			}
			for corresponding < i {
				start--
				set(start, true)
				i--
				set(i, false)
				for j--; other(j); j-- {
				}
			}
		}
	}
}

// change is one run of deleted and inserted lines.
type change struct{ line0, deleted, line1, inserted int }

func unified(oldName, newName string, a, b []string, ca, cb []bool) string {
	var changes []change
	for i, j := 0, 0; i < len(a) || j < len(b); i, j = i+1, j+1 {
		if (i < len(a) && ca[i]) || (j < len(b) && cb[j]) {
			c := change{line0: i, line1: j}
			for i < len(a) && ca[i] {
				i++
			}
			for j < len(b) && cb[j] {
				j++
			}
			c.deleted, c.inserted = i-c.line0, j-c.line1
			changes = append(changes, c)
		}
	}
	var sb strings.Builder
	sb.WriteString("--- " + oldName + "\n+++ " + newName + "\n")
	for k := 0; k < len(changes); {
		// A hunk takes the changes less than 2*context+1 lines apart.
		end := k + 1
		for end < len(changes) && changes[end].line0-(changes[end-1].line0+changes[end-1].deleted) < 2*horizon+1 {
			end++
		}
		first, last := changes[k], changes[end-1]
		first0 := max(first.line0-horizon, 0)
		first1 := first0 + first.line1 - first.line0
		last0 := min(last.line0+last.deleted-1+horizon, len(a)-1)
		last1 := last0 + (last.line1 + last.inserted) - (last.line0 + last.deleted)
		sb.WriteString("@@ -" + hunkRange(first0, last0) + " +" + hunkRange(first1, last1) + " @@\n")
		i := first0
		for _, c := range changes[k:end] {
			for ; i < c.line0; i++ {
				writeLine(&sb, ' ', a[i])
			}
			for n := 0; n < c.deleted; n++ {
				writeLine(&sb, '-', a[c.line0+n])
			}
			for n := 0; n < c.inserted; n++ {
				writeLine(&sb, '+', b[c.line1+n])
			}
			i = c.line0 + c.deleted
		}
		for ; i <= last0; i++ {
			writeLine(&sb, ' ', a[i])
		}
		k = end
	}
	return sb.String()
}

// hunkRange prints a 0-based inclusive line range as diff -u does.
func hunkRange(first, last int) string {
	a, b := first+1, last+1
	switch {
	case b < a:
		return strconv.Itoa(b) + ",0"
	case b == a:
		return strconv.Itoa(a)
	}
	return strconv.Itoa(a) + "," + strconv.Itoa(b-a+1)
}

func writeLine(sb *strings.Builder, mark byte, line string) {
	sb.WriteByte(mark)
	sb.WriteString(line)
	if !strings.HasSuffix(line, "\n") {
		sb.WriteString("\n\\ No newline at end of file\n")
	}
}
