#!/usr/bin/env bash
# Builds mailpit (a real SMTP server with an HTTP API, used by the notification
# tests) from the Go module proxy once and caches it outside the checkout.
# Prints the binary's path on stdout; progress goes to stderr. Override the
# cache directory with ORK_MAILPIT_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/mailpit"
version="$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/axllent/mailpit") print $(i + 1) }' "$mod/go.mod")"
key="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-16)"
dir="${ORK_MAILPIT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orkestra-gateway/mailpit/${version}-${key}}"
bin="$dir/mailpit"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9
if [[ -x "$bin" ]]; then # another caller built it while we waited
	echo "$bin"
	exit 0
fi

echo "mailpit: building $version from the Go module proxy into $dir" >&2
echo "mailpit: a cold build takes a few minutes on 2 cores; later runs reuse the cache" >&2
start=$(date +%s)
cd "$mod"
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
(
	while sleep 30; do echo "mailpit: still building ($(( $(date +%s) - start ))s)..." >&2; done
) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
go build -trimpath -ldflags "-s -w" -o "$bin.tmp" github.com/axllent/mailpit
mv "$bin.tmp" "$bin"
echo "mailpit: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
