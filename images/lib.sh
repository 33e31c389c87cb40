# lib.sh: shell helpers shared by the image build scripts (sourced, not run).
# shellcheck shell=sh

# log prints a progress line on stderr.
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# die prints an error on stderr and exits.
die() { log "error: $*"; exit 1; }

# need_root stops the build unless it runs as root: mkfs.ext4 -d copies
# file ownership from the source tree, and debootstrap needs root anyway.
need_root() { [ "$(id -u)" = 0 ] || die "run as root (file ownership goes into the image)"; }

# pkg_version prints the installed version of a Debian package, or fails.
pkg_version() {
	v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) && [ -n "$v" ] || die "package $1 is not installed (make images-deps)"
	printf '%s\n' "$v"
}

# copy_bin DESTROOT SRC [DESTPATH] copies an executable into DESTROOT (at
# DESTPATH, default the same path) with every shared library ldd finds.
copy_bin() {
	_root=$1 _src=$2 _dst=${3:-$2}
	[ -x "$_src" ] || die "missing executable $_src"
	mkdir -p "$_root$(dirname "$_dst")"
	cp -L "$_src" "$_root$_dst"
	# ldd lines: "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
	# "/lib64/ld-linux-x86-64.so.2 (0x...)"; "statically linked" has none.
	ldd "$_src" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
		while read -r _lib; do
			[ -e "$_root$_lib" ] && continue
			mkdir -p "$_root$(dirname "$_lib")"
			cp -L "$_lib" "$_root$_lib"
		done
}

# mod_closure MODDIR NAME... prints the module files (relative to MODDIR)
# needed to load NAMEs, dependencies first, using MODDIR/modules.dep.
mod_closure() {
	_dir=$1; shift
	awk -v want="$*" '
	function base(p,  b) { b = p; sub(/.*\//, "", b); sub(/\.ko.*$/, "", b); gsub(/-/, "_", b); return b }
	function visit(m,  i, n, d) {
		if (m in seen) return
		seen[m] = 1
		if (!(m in path)) { print "mod_closure: unknown module " m > "/dev/stderr"; bad = 1; return }
		n = split(deps[m], d, " ")
		for (i = 1; i <= n; i++) visit(base(d[i]))
		print path[m]
	}
	{
		f = $1; sub(/:$/, "", f); m = base(f); path[m] = f
		$1 = ""; deps[m] = $0
	}
	END {
		n = split(want, w, " ")
		for (i = 1; i <= n; i++) { x = w[i]; gsub(/-/, "_", x); visit(x) }
		exit bad
	}' "$_dir/modules.dep"
}

# sha16 prints the first 16 hex digits of a file's SHA-256.
sha16() { sha256sum "$1" | cut -c1-16; }
