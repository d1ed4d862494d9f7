//go:build pam && cgo

package pam

/*
#cgo LDFLAGS: -lpam
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <security/pam_appl.h>

// hearth_conv answers every prompt with the password passed as appdata.
// Both echo styles get it: a module asking with echo on (an OTP token, say)
// still wants the secret, and the user name never needs prompting because
// pam_start is given it. Messages for the user are dropped; nobody sees
// them. PAM takes ownership of the responses and frees them.
static int hearth_conv(int n, const struct pam_message **msg,
                       struct pam_response **resp, void *appdata) {
	const char *password = appdata;
	struct pam_response *r;
	int i;

	if (n <= 0 || n > PAM_MAX_NUM_MSG || password == NULL)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof *r);
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			r[i].resp = strdup(password);
			if (r[i].resp == NULL)
				goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++) {
		if (r[i].resp != NULL) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

// hearth_pam_check runs one whole transaction: start, authenticate, check
// the account, end. It reports which step failed and PAM's text for the
// code, copied into msg before pam_end frees the handle.
static int hearth_pam_check(const char *service, const char *user,
                            const char *password, int *step,
                            char *msg, size_t msglen) {
	struct pam_conv conv = { hearth_conv, (void *)password };
	pam_handle_t *h = NULL;
	int rc;

	*step = 0;
	rc = pam_start(service, user, &conv, &h);
	if (rc != PAM_SUCCESS) {
		// pam_start frees the handle itself when it fails.
		snprintf(msg, msglen, "%s", pam_strerror(h, rc));
		return rc;
	}
	*step = 1;
	rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (rc == PAM_SUCCESS) {
		*step = 2;
		rc = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	}
	snprintf(msg, msglen, "%s", pam_strerror(h, rc));
	pam_end(h, rc);
	return rc;
}
*/
import "C"

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"github.com/hearth-virt/hearth/internal/access/realm"
)

// maxConcurrent bounds PAM calls in flight: each holds an OS thread for the
// whole call, seconds on a wrong password, so a flood of bad logins would
// otherwise pile up threads.
const maxConcurrent = 4

// Realm checks passwords of system accounts through PAM. Use it through a
// pointer and do not copy it after first use.
type Realm struct {
	// Service names the file in /etc/pam.d to use; empty means
	// DefaultService.
	Service string

	once sync.Once
	// sem holds one token per PAM call in flight, including calls whose
	// caller has given up waiting.
	sem chan struct{}
}

// New returns a Realm using DefaultService.
func New() *Realm { return &Realm{} }

// Available reports whether this binary can talk to PAM; in this build it
// can.
func (r *Realm) Available() bool { return true }

// Authenticate checks name and password with pam_authenticate and then
// pam_acct_mgmt, so that locked and expired accounts are refused even with
// the right password. Wrong credentials give an error wrapping
// realm.ErrAuth with PAM's reason; a PAM stack that cannot answer gives
// another error.
//
// A failed attempt takes about two seconds (pam_unix's delay against
// guessing) and the C call cannot be interrupted. When ctx ends first,
// Authenticate returns ctx's error at once while the call runs to its end
// in the background, still holding its concurrency slot; at most
// maxConcurrent calls run at a time and further callers wait for ctx.
func (r *Realm) Authenticate(ctx context.Context, name, password string) error {
	if err := checkInput(name, password); err != nil {
		return err
	}
	r.once.Do(func() { r.sem = make(chan struct{}, maxConcurrent) })
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("pam: waiting to check %q: %w", name, ctx.Err())
	}
	service := r.Service
	if service == "" {
		service = DefaultService
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-r.sem }()
		done <- check(service, name, password)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// A result that is already there is worth more than the
		// cancellation.
		select {
		case err := <-done:
			return err
		default:
		}
		return fmt.Errorf("pam: checking %q (the PAM call goes on in the background): %w", name, ctx.Err())
	}
}

// Steps reported by hearth_pam_check.
var steps = [...]string{"pam_start", "pam_authenticate", "pam_acct_mgmt"}

// check runs one PAM transaction. Only the C copy of the password can be
// wiped afterwards; the Go string is immutable.
func check(service, name, password string) error {
	cService := C.CString(service)
	defer C.free(unsafe.Pointer(cService))
	cName := C.CString(name)
	defer C.free(unsafe.Pointer(cName))
	cPassword := C.CString(password)
	defer func() {
		C.explicit_bzero(unsafe.Pointer(cPassword), C.size_t(len(password)))
		C.free(unsafe.Pointer(cPassword))
	}()

	var step C.int
	var msg [256]C.char
	rc := C.hearth_pam_check(cService, cName, cPassword, &step, &msg[0], C.size_t(len(msg)))
	if rc == C.PAM_SUCCESS {
		return nil
	}
	err := fmt.Errorf("pam: service %q, user %q: %s: %s (code %d)",
		service, name, steps[step], C.GoString(&msg[0]), int(rc))
	if refused(rc) {
		return fmt.Errorf("%w: %w", err, realm.ErrAuth)
	}
	return err
}

// refused tells the codes meaning "this user may not log in with this
// password" from those meaning the PAM stack itself is broken or cannot
// reach its data (a directory that is down), which an administrator must
// hear about.
func refused(rc C.int) bool {
	switch rc {
	case C.PAM_AUTH_ERR, C.PAM_USER_UNKNOWN, C.PAM_CRED_INSUFFICIENT,
		C.PAM_MAXTRIES, C.PAM_PERM_DENIED, C.PAM_ACCT_EXPIRED,
		// An expired password must be changed first, which an API
		// login cannot do.
		C.PAM_NEW_AUTHTOK_REQD, C.PAM_AUTHTOK_EXPIRED:
		return true
	}
	return false
}
