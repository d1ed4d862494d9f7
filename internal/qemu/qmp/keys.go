package qmp

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// KeyValue is one key of send-key: a QKeyCode name or a raw scancode.
type KeyValue struct {
	Type string `json:"type"` // "qcode" or "number"
	Data any    `json:"data"` // string for qcode, int for number
}

// qKeyCodes are QEMU's QKeyCode names (as of 7.2) without "unmapped".
// Proxmox VE passes key strings to the human monitor's sendkey, which
// accepts exactly these names, so they are the compatible vocabulary.
var qKeyCodes = strings.Fields(`shift shift_r alt alt_r ctrl ctrl_r menu esc
1 2 3 4 5 6 7 8 9 0 minus equal backspace tab q w e r t y u i o p
bracket_left bracket_right ret a s d f g h j k l semicolon apostrophe
grave_accent backslash z x c v b n m comma dot slash asterisk spc caps_lock
f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 num_lock scroll_lock kp_divide kp_multiply
kp_subtract kp_add kp_enter kp_decimal sysrq kp_0 kp_1 kp_2 kp_3 kp_4 kp_5
kp_6 kp_7 kp_8 kp_9 less f11 f12 print home pgup pgdn end left up down
right insert delete stop again props undo front copy open paste find cut
lf help meta_l meta_r compose pause ro hiragana henkan yen muhenkan
katakanahiragana kp_comma kp_equals power sleep wake audionext audioprev
audiostop audioplay audiomute volumeup volumedown mediaselect mail
calculator computer ac_home ac_back ac_forward ac_refresh ac_bookmarks
lang1 lang2`)

// ParseKeys parses a key combination in the human monitor's notation, as
// Proxmox VE's sendkey takes it: key names joined by '-', pressed together
// ("ctrl-alt-delete"), where a key is a QKeyCode name or a hexadecimal
// scancode such as 0x1d.
func ParseKeys(s string) ([]KeyValue, error) {
	if s == "" {
		return nil, fmt.Errorf("empty key combination; expected key names joined by '-', e.g. ctrl-alt-delete")
	}
	parts := strings.Split(s, "-")
	keys := make([]KeyValue, 0, len(parts))
	for _, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("key combination %q has an empty key; join key names with a single '-'", s)
		case strings.HasPrefix(p, "0x"):
			n, err := strconv.ParseUint(p[2:], 16, 16)
			if err != nil || len(p) == 2 {
				return nil, fmt.Errorf("key %q in %q is not a scancode: expected 0x followed by up to 4 hex digits", p, s)
			}
			keys = append(keys, KeyValue{Type: "number", Data: int(n)})
		case slices.Contains(qKeyCodes, p):
			keys = append(keys, KeyValue{Type: "qcode", Data: p})
		default:
			return nil, fmt.Errorf("unknown key %q in %q; keys are QEMU key names (ctrl, alt, shift, delete, ret, f1, a, 1, ...) or 0x scancodes", p, s)
		}
	}
	return keys, nil
}

// FormatKeys is the inverse of ParseKeys.
func FormatKeys(keys []KeyValue) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		switch d := k.Data.(type) {
		case int:
			parts[i] = "0x" + strconv.FormatInt(int64(d), 16)
		default:
			parts[i] = fmt.Sprint(d)
		}
	}
	return strings.Join(parts, "-")
}

// SendKey presses the keys of combination (see ParseKeys) together and
// releases them, holding them for holdMS milliseconds (0: QEMU's default).
func (c *Client) SendKey(ctx context.Context, combination string, holdMS int) error {
	keys, err := ParseKeys(combination)
	if err != nil {
		return err
	}
	args := map[string]any{"keys": keys}
	if holdMS > 0 {
		args["hold-time"] = holdMS
	}
	return c.Execute(ctx, "send-key", args, nil)
}
