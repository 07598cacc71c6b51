#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy once and caches them
# outside the checkout. Prints the directory holding both binaries on stdout;
# progress goes to stderr. Override the cache with ORK_TESTENV_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$here/testenv"
k8s_version="v1.37.2"
key="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-16)"
dir="${ORK_TESTENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orkestra-gateway/testenv/kube-${k8s_version}-${key}}"

have() { [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" ]]; }

if have; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9
if have; then # another caller built them while we waited
	echo "$dir"
	exit 0
fi

echo "testenv: building kube-apiserver $k8s_version and etcd from the Go module proxy into $dir" >&2
echo "testenv: a cold build takes about 10 minutes on 2 cores; later runs reuse the cache" >&2
start=$(date +%s)
cd "$mod"
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
vpkg=k8s.io/component-base/version
(
	while sleep 30; do echo "testenv: still building ($(( $(date +%s) - start ))s)..." >&2; done
) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
echo "testenv: [1/2] etcd" >&2
go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3
echo "testenv: [2/2] kube-apiserver" >&2
go build -trimpath -ldflags "-s -w -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=37" \
	-o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$dir/etcd.tmp" "$dir/etcd"
mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
echo "testenv: built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
