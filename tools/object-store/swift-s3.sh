#!/usr/bin/env bash
# A real S3-compatible object store for the tests: an all-in-one OpenStack Swift with its s3api
# middleware, from Debian bookworm packages (the CI machine has no Docker engine and no MinIO).
#   install  apt-get the packages that are missing (root)
#   start    write configs + rings under $SWIFT_S3_BASE, start the servers, wait until S3 answers
#   stop     stop the servers 'start' started (by their pid files)
#   wipe     stop, then remove $SWIFT_S3_BASE and every object in it
#   env      print the export lines the S3 tests read
# 'start' creates no bucket: the tests create their own.
set -euo pipefail

BASE=${SWIFT_S3_BASE:-/tmp/files-service-swift-s3}
PORT=${SWIFT_S3_PORT:-8080}
REGION=us-east-1
ACCESS_KEY=test:tester # s3api with tempauth: access key "account:user", secret = the user's key
SECRET=testing
# Backends and memcached listen on loopback only; 11219 keeps clear of a system memcached on 11211.
ACCT_PORT=6202 CONT_PORT=6201 OBJ_PORT=6200 MC_PORT=11219
SERVERS="memcached account container object proxy"
# curl and openssl are for the readiness check below.
PKGS="swift swift-proxy swift-account swift-container swift-object memcached curl openssl"

install_pkgs() {
  local missing="" p
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=" $p"
  done
  if [ -z "$missing" ]; then echo "swift-s3: packages already installed"; return; fi
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 $missing)
  # The package lists are refreshed only when installing from them fails (absent or stale lists).
  "${apt[@]}" || { apt-get update -q && "${apt[@]}"; }
}

# True when a signed ListBuckets gets its answer: proxy, s3api, auth and account server all work.
# Signature V2 (which s3api accepts) because curl --aws-sigv4 cannot take a ':' in the access key.
s3_answers() {
  local date sig
  date=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
  sig=$(printf 'GET\n\n\n%s\n/' "$date" | openssl dgst -sha1 -hmac "$SECRET" -binary | base64)
  curl -fsS --max-time 2 -H "Date: $date" -H "Authorization: AWS $ACCESS_KEY:$sig" \
    "http://127.0.0.1:$PORT/" 2>/dev/null | grep -q '<ListAllMyBucketsResult'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ListBuckets needs no container or object server, so their ports count too.
ready() { s3_answers && port_open "$CONT_PORT" && port_open "$OBJ_PORT"; }

write_configs() {
  mkdir -p "$BASE"/{etc,srv/d1,run,log}
  local E=$BASE/etc
  cat >"$E/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = files-service-test
swift_hash_path_prefix = files-service-test

[storage-policy:0]
name = Policy-0
default = yes
EOF
  # One process per server (workers = 0); mount_check off because srv/d1 is a plain directory.
  local n p
  for n in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
    p=${n#*:} n=${n%%:*}
    cat >"$E/$n-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $p
workers = 0
user = $(id -un)
swift_dir = $E
devices = $BASE/srv
mount_check = false

[pipeline:main]
pipeline = $n-server

[app:$n-server]
use = egg:swift#$n
EOF
  done
  cat >"$E/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PORT
workers = 0
user = $(id -un)
swift_dir = $E

# s3api's pipeline with tempauth; the proxy adds the filters it requires itself (catch_errors,
# gatekeeper, listing_formats, copy, dlo, versioned_writes). slo stores completed multipart uploads.
[pipeline:main]
pipeline = proxy-logging cache s3api tempauth slo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
# the account comes into being with the first bucket
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = $REGION
# S3 allows 10000 parts (s3api's default is 1000); slo below must take as many segments
max_upload_part_num = 10000

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $SECRET .admin

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000

# tempauth keeps its tokens in memcache, so it needs one
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT

[filter:proxy-logging]
use = egg:swift#proxy_logging
EOF
  # Rings: partition power 8, 1 replica, one device; the ports in them never change, so build once.
  if [ ! -f "$E/object.ring.gz" ]; then
    for n in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
      p=${n#*:} n=${n%%:*}
      swift-ring-builder "$E/$n.builder" create 8 1 1 >/dev/null
      swift-ring-builder "$E/$n.builder" add "r1z1-127.0.0.1:$p/d1" 1 >/dev/null
      swift-ring-builder "$E/$n.builder" rebalance >/dev/null
    done
  fi
}

start_one() { # name command...
  local name=$1; shift
  nohup "$@" >"$BASE/log/$name.log" 2>&1 </dev/null &
  echo $! >"$BASE/run/$name.pid"
}

start() {
  if ready; then echo "swift-s3: already answering on http://127.0.0.1:$PORT"; return; fi
  stop # leftovers of an earlier start that no longer answers
  local p
  for p in "$PORT" $ACCT_PORT $CONT_PORT $OBJ_PORT $MC_PORT; do
    # fail now rather than after the servers' own 30 s of retrying to bind
    if port_open "$p"; then echo "swift-s3: 127.0.0.1:$p is taken by another program" >&2; return 1; fi
  done
  write_configs
  # memcached refuses to run as root without -u (ignored when not root)
  start_one memcached memcached -u memcache -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64
  local n
  for n in account container object proxy; do
    start_one "$n" "swift-$n-server" "$BASE/etc/$n-server.conf" -v
  done
  local i
  for i in $(seq 1 240); do
    for n in $SERVERS; do
      if ! kill -0 "$(cat "$BASE/run/$n.pid")" 2>/dev/null; then
        echo "swift-s3: $n exited while starting (port in use?); logs:" >&2
        tail -n 20 "$BASE"/log/*.log >&2; stop; return 1
      fi
    done
    if ready; then
      echo "swift-s3: S3 on http://127.0.0.1:$PORT after ~$((i / 4)) s (data in $BASE)"; return
    fi
    sleep 0.25
  done
  echo "swift-s3: S3 did not answer within 60 s; logs:" >&2
  tail -n 20 "$BASE"/log/*.log >&2; stop; return 1
}

stop() {
  local n f pid i
  for n in $SERVERS; do
    f=$BASE/run/$n.pid
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -TERM "$pid" 2>/dev/null; then
      for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

env_lines() {
  echo "export S3_TEST_ENDPOINT=http://127.0.0.1:$PORT"
  echo "export S3_TEST_REGION=$REGION"
  echo "export S3_TEST_ACCESS_KEY_ID=$ACCESS_KEY"
  echo "export S3_TEST_SECRET_ACCESS_KEY=$SECRET"
}

case "${1:-}" in
  install) install_pkgs ;;
  start) start ;;
  stop) stop ;;
  wipe) stop; rm -rf "${BASE:?}" ;;
  env) env_lines ;;
  *) echo "usage: $0 install|start|stop|wipe|env" >&2; exit 2 ;;
esac
