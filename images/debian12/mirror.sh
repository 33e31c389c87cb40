#!/bin/sh
# mirror.sh [SUITE]: print the Debian mirror the host's apt uses for SUITE
# (default bookworm; bookworm-security for security updates): the first URIs
# of a deb822 source in /etc/apt/sources.list.d/*.sources whose Suites
# include SUITE, else a "deb URI SUITE" line in sources.list, else
# deb.debian.org. $BERTH_DEBIAN_MIRROR overrides the bookworm mirror.
set -eu
suite=${1:-bookworm}
if [ "$suite" = bookworm ] && [ -n "${BERTH_DEBIAN_MIRROR:-}" ]; then
	echo "$BERTH_DEBIAN_MIRROR"
	exit 0
fi
fallback=http://deb.debian.org/debian
[ "$suite" = bookworm-security ] && fallback=http://deb.debian.org/debian-security
m=""
for f in /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	m=$(awk '
		/^[[:space:]]*$/ { if (ok && deb && uri != "") { print uri; exit } ok = 0; deb = 0; uri = ""; next }
		/^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
		/^URIs:/ { uri = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
		END { if (ok && deb && uri != "") print uri }' suite="$suite" "$f" | head -n 1)
	[ -n "$m" ] && break
done
if [ -z "$m" ]; then
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { u = ""; for (i = 2; i <= NF; i++) { if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue } if (u == "") { u = $i; continue } if ($i == suite) { print u; exit } break } }' suite="$suite" | head -n 1)
fi
echo "${m:-$fallback}"
