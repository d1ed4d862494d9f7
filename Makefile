# Hearth — build, run and test.
#
#   make run    install what is needed, build, start a single node
#   make test   install what is needed, then vet, lint and run every test
#
# Both work on a fresh Debian 12 machine with Go, as root (CI runs as root).

GO        ?= go
BIN       := bin/hearth
PREFIX    ?= /usr/local
STATE_DIR ?= $(CURDIR)/run/state
LISTEN    ?= 0.0.0.0:8006
NAT_NETWORK ?= hearthnat0
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/hearth-virt/hearth/api.HearthVersion=$(VERSION)
GOTEST_FLAGS ?= -race

# Debian packages the project runs or tests with. Each later capability
# adds its tools here so that a new machine gets them from `make deps`.
DEB_PACKAGES := ca-certificates openssl fuse3 iproute2 nftables dnsmasq-base busybox-static slapd ldap-utils libpam0g-dev gcc libc6-dev \
	qemu-utils qemu-block-extra btrfs-progs lvm2 zstd xz-utils \
	tgt open-iscsi libiscsi-bin nfs-ganesha nfs-ganesha-vfs libnfs-utils \
	qemu-system-x86 ovmf swtpm swtpm-tools genisoimage \
	lxc debootstrap e2fsprogs util-linux

.PHONY: all build deps run test vet lint unit install man clean bench bench-cfs robustness

all: build

# The binary links libpam (cgo, build tag pam) so that host accounts such
# as root@pam can log in, as on Proxmox VE. BUILD_TAGS= CGO_ENABLED=0 gives
# a static binary whose pam realm refuses logins with an explanation.
BUILD_TAGS ?= pam
CGO_ENABLED ?= 1
export CGO_ENABLED

build:
	$(GO) build -trimpath -tags '$(BUILD_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/hearth

# Installs missing Debian packages; does nothing (and needs no network)
# when everything is present.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The node's network configuration lives in the state directory, not in
# /etc/network/interfaces: applying it never touches the physical NIC
# unless you put the NIC in it. Guests get networking from the NAT network
# (bridge hearthnat0, DHCP and DNS by dnsmasq, nftables masquerade).
run: deps build
	$(BIN) daemon --state-dir $(STATE_DIR) --listen $(LISTEN) --cfs-mount $(CURDIR)/run/etc-hearth \
		--network-interfaces $(STATE_DIR)/network/interfaces --nat-network $(NAT_NETWORK) \
		--local-storage $(CURDIR)/run/vz --mount-root $(CURDIR)/run/mnt

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

lint:
	$(GO) tool staticcheck ./...

unit:
	$(GO) test $(GOTEST_FLAGS) ./...
	$(GO) test $(GOTEST_FLAGS) -tags pam ./internal/access/realm/pam/
	$(GO) test $(GOTEST_FLAGS) -tags pam -run PAM ./internal/daemon/

test: deps vet lint build unit

bench: build
	$(GO) run ./bench/api -binary $(BIN)

man: build
	$(BIN) gen-man docs/man

install: build man
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/hearth
	for t in $$($(BIN) tools); do ln -sf hearth $(DESTDIR)$(PREFIX)/bin/$$t; done
	install -d $(DESTDIR)/usr/share/bash-completion/completions
	$(BIN) completion bash > $(DESTDIR)/usr/share/bash-completion/completions/hearth
	for t in $$($(BIN) tools); do ln -sf hearth $(DESTDIR)/usr/share/bash-completion/completions/$$t; done
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf bin docs/man

# The long linearizability runs: many minutes of random writes and reads on
# 3- and 5-node stores while leaders are cut off and nodes restart, checked
# with porcupine. `make test` runs a short one.
ROBUST_DURATION ?= 60s
ROBUST_RUNS ?= 10
robustness:
	HEARTH_LIN_DURATION=$(ROBUST_DURATION) HEARTH_LIN_RUNS=$(ROBUST_RUNS) \
		$(GO) test -run 'TestLinearizable' -timeout 0 -v ./internal/cfs/

bench-cfs:
	$(GO) run ./bench/cfs -duration 5s -writers 4
