# images.mk: guest images Berth boots, built from Debian packages and cached.
#
# Included from the top-level Makefile (`include images/images.mk`); it also
# works stand-alone: `make -f images/images.mk tiny`.
#
# Everything built goes under $(BERTH_CACHE). Each image gets a directory
# with a manifest.json that internal/image reads; the files the manifest
# names are content-addressed (disk-<sha>.qcow2, vmlinuz-<sha>, initrd-<sha>)
# and read-only, so a rebuild never changes a file an existing VM overlay
# uses as its backing file.
#
# Targets:
#   images-deps        apt-get install what the builds and the smoke test need
#   tiny               "Berth Tiny": Debian cloud kernel + busybox + dropbear
#                      + Berth's guest agent (cmd/berth-guest-agent, needs Go)
#   debian12           "Debian 12": debootstrap bookworm + cloud-init (~1.5 min)
#   images             the images most tests use (tiny)
#   images-smoke       boot tiny under TCG and check it end to end (smoke.sh)
#   images-smoke-debian12  boot debian12 once with a cloud-init seed
#   images-clean       remove $(BERTH_CACHE)

# Including this file does not change the includer's default goal; run
# alone, the default goal is `images`.
IMAGES_SAVED_GOAL := $(.DEFAULT_GOAL)
IMAGES_STANDALONE := $(filter 1,$(words $(MAKEFILE_LIST)))

BERTH_CACHE ?= $(CURDIR)/.cache/images
IMAGES_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
IMAGES_SRC := $(abspath $(IMAGES_DIR))

# Debian packages the builds and smoke tests use (Debian 12 host, as root).
IMAGES_APT := busybox-static dropbear-bin openssh-sftp-server e2fsprogs cpio \
	gzip qemu-utils qemu-system-x86 genisoimage debootstrap socat \
	openssh-client iproute2 jq

TINY := $(BERTH_CACHE)/tiny
DEB12 := $(BERTH_CACHE)/debian12

TINY_SRCS := $(IMAGES_DIR)/lib.sh $(IMAGES_DIR)/manifest.sh \
	$(wildcard $(IMAGES_DIR)/tiny/*.sh) $(IMAGES_DIR)/tiny/init \
	$(shell find $(IMAGES_DIR)/tiny/rootfs -type f 2>/dev/null)
GUEST_AGENT_SRCS := $(wildcard $(IMAGES_DIR)/../cmd/berth-guest-agent/*.go) \
	$(filter-out %_test.go,$(wildcard $(IMAGES_DIR)/../internal/guestagent/*.go)) \
	$(IMAGES_DIR)/../go.mod
DEB12_SRCS := $(IMAGES_DIR)/lib.sh $(IMAGES_DIR)/manifest.sh \
	$(IMAGES_DIR)/debian12/image.sh \
	$(shell find $(IMAGES_DIR)/debian12/files -type f 2>/dev/null)

.PHONY: images images-deps tiny debian12 images-smoke images-smoke-debian12 \
	images-clean images-force
.DELETE_ON_ERROR:

images: tiny

images-deps:
	@missing=""; for p in $(IMAGES_APT); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "images-deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# images-force: a prerequisite that is always out of date, so the input
# stamps are recomputed every run (they are only rewritten when they change).
images-force:

# ---------------------------------------------------------------- tiny

tiny: $(TINY)/manifest.json

# inputs: the Debian package versions the image is made of. Rewritten only
# when a version changes, so a new kernel or busybox rebuilds everything.
$(TINY)/inputs: images-force | images-deps
	@mkdir -p $(@D)
	@$(IMAGES_SRC)/tiny/inputs.sh > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; echo "tiny: inputs changed"; fi

$(TINY)/kernel/stamp: $(TINY)/inputs $(IMAGES_DIR)/tiny/kernel.sh $(IMAGES_DIR)/lib.sh
	$(IMAGES_SRC)/tiny/kernel.sh $(TINY)/inputs $(BERTH_CACHE)/debs $(TINY)/kernel

$(TINY)/initrd.img: $(TINY)/kernel/stamp $(IMAGES_DIR)/tiny/initramfs.sh \
		$(IMAGES_DIR)/tiny/init $(IMAGES_DIR)/lib.sh
	$(IMAGES_SRC)/tiny/initramfs.sh $(TINY)/kernel $@

# The guest agent: Go, static (no libc in the image), stripped.
$(TINY)/berth-guest-agent: $(GUEST_AGENT_SRCS)
	@mkdir -p $(@D)
	cd $(IMAGES_SRC)/.. && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o $@ ./cmd/berth-guest-agent

$(TINY)/disk.qcow2: $(TINY)/kernel/stamp $(TINY)/inputs $(TINY_SRCS) $(TINY)/berth-guest-agent
	$(IMAGES_SRC)/tiny/rootfs.sh $(TINY)/kernel $(IMAGES_SRC)/tiny/rootfs $(TINY)/berth-guest-agent $@

$(TINY)/manifest.json: $(TINY)/disk.qcow2 $(TINY)/initrd.img $(TINY)/kernel/stamp \
		$(IMAGES_DIR)/manifest.sh
	$(IMAGES_SRC)/manifest.sh tiny $(TINY) $(TINY)/kernel/vmlinuz $(TINY)/initrd.img \
	  $(TINY)/disk.qcow2 "$$(cat $(TINY)/kernel/version)"

# ------------------------------------------------------------ debian12

debian12: $(DEB12)/manifest.json

$(DEB12)/inputs: images-force | images-deps
	@mkdir -p $(@D)
	@$(IMAGES_SRC)/debian12/inputs.sh > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; echo "debian12: inputs changed"; fi

# The debootstrap tree (~560 MB) is kept so that changing the image step
# does not download everything again.
$(DEB12)/root/.berth-debootstrap: $(DEB12)/inputs $(IMAGES_DIR)/debian12/debootstrap.sh \
		$(IMAGES_DIR)/debian12/packages.sh
	$(IMAGES_SRC)/debian12/debootstrap.sh $(DEB12)/inputs $(DEB12)/root

$(DEB12)/disk.qcow2: $(DEB12)/root/.berth-debootstrap $(DEB12_SRCS)
	$(IMAGES_SRC)/debian12/image.sh $(DEB12)/root $(IMAGES_SRC)/debian12/files $(DEB12)

$(DEB12)/manifest.json: $(DEB12)/disk.qcow2 $(IMAGES_DIR)/manifest.sh
	$(IMAGES_SRC)/manifest.sh debian12 $(DEB12) $(DEB12)/vmlinuz $(DEB12)/initrd.img \
	  $(DEB12)/disk.qcow2 "$$(cat $(DEB12)/kernel-version)"

# --------------------------------------------------------------- tests

images-smoke: tiny
	$(IMAGES_SRC)/smoke.sh tiny $(TINY)/manifest.json

images-smoke-debian12: debian12
	$(IMAGES_SRC)/smoke.sh debian12 $(DEB12)/manifest.json

images-clean:
	rm -rf $(BERTH_CACHE)

.DEFAULT_GOAL := $(if $(IMAGES_STANDALONE),images,$(IMAGES_SAVED_GOAL))
