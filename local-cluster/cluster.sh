#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, no Docker, no registry:
#   local-cluster/cluster.sh up | down | status | env
# Components are built from Go modules (local-cluster/go.mod pins them), system pieces come
# from Debian, images are assembled from local binaries. Everything listens on 127.0.0.1 or
# on the bridge rbr0 (10.88.0.1/16) this script creates; pod traffic never leaves the machine.
# Idempotent: `up` starts what is not running and leaves the rest alone.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
state=${REDISIBLE_CLUSTER_DIR:-/var/lib/redisible-cluster}
cache=${REDISIBLE_CACHE:-$HOME/.cache/redisible}
bin=$cache/k8s-bin
node_ip=10.88.0.1
pod_cidr=10.88.0.0/16
service_cidr=10.96.0.0/16
node_name=redisible-node
bridge=rbr0
kubeconfig=$state/admin.kubeconfig
sock=$state/containerd/containerd.sock
export PATH=$bin:$PATH

log() { printf '[cluster] %s\n' "$*" >&2; }

running() { [ -f "$state/run/$1.pid" ] && kill -0 "$(cat "$state/run/$1.pid")" 2>/dev/null; }

start() { # start NAME COMMAND...: in the background, logging to $state/logs/NAME.log
  local name=$1
  shift
  if running "$name"; then return 0; fi
  mkdir -p "$state/logs" "$state/run"
  nohup "$@" >>"$state/logs/$name.log" 2>&1 &
  echo $! >"$state/run/$name.pid"
  log "started $name (pid $!)"
}

wait_for() { # wait_for SECONDS WHAT COMMAND...
  local seconds=$1 what=$2 deadline
  shift 2
  deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      log "timed out waiting for $what"
      return 1
    fi
    sleep 1
  done
}

stop_shims() { # the containerd shims of this cluster's containerd (-address is our socket)
  local cmdline pid args i
  for cmdline in /proc/[0-9]*/cmdline; do
    pid=${cmdline#/proc/}
    pid=${pid%/cmdline}
    mapfile -d '' args <"$cmdline" 2>/dev/null || continue
    [ "${args[0]:-}" ] && [ "${args[0]##*/}" = containerd-shim-runc-v2 ] || continue
    for ((i = 1; i < ${#args[@]} - 1; i++)); do
      if [ "${args[$i]}" = -address ] && [ "${args[$((i + 1))]}" = "$sock" ]; then
        kill -9 "$pid" 2>/dev/null || true
      fi
    done
  done
}

install_packages() {
  local wanted=(etcd-server containerd runc containernetworking-plugins iptables conntrack socat
                umoci skopeo busybox-static openssl iproute2 dnsutils) missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  # Debian's postinst would start etcd and containerd as services: we run our own.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

build_components() {
  local wanted=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy) todo=()
  if [ ! -x "$bin/ansible-operator" ]; then
    log "building ansible-operator"
    mkdir -p "$bin"
    (cd "$here/operator" && GONOSUMDB=github.com/operator-framework/ansible-operator-plugins \
      go build -trimpath -ldflags "-s -w" -o "$bin/" \
      github.com/operator-framework/ansible-operator-plugins/cmd/ansible-operator)
  fi
  if [ ! -x "$bin/coredns" ]; then
    log "building coredns"
    mkdir -p "$bin"
    (cd "$here/coredns" && go build -trimpath -ldflags "-s -w" -o "$bin/" github.com/coredns/coredns)
  fi
  for component in "${wanted[@]}"; do
    [ -x "$bin/$component" ] || todo+=("k8s.io/kubernetes/cmd/$component")
  done
  [ ${#todo[@]} -eq 0 ] && return 0
  log "building ${todo[*]} (10-15 minutes cold; the Go build cache keeps later runs short)"
  mkdir -p "$bin"
  local version
  version=$(awk '/^require k8s.io\/kubernetes / {print $3}' "$here/go.mod")
  (cd "$here" && go build -trimpath \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version" -o "$bin/" "${todo[@]}")
}

make_pki() {
  local pki=$state/pki
  [ -f "$pki/admin.crt" ] && return 0
  mkdir -p "$pki"
  log "creating certificates"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=redisible-local-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  sign() { # sign NAME SUBJECT [SANS]
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr" \
      2>/dev/null
    if [ -n "${3:-}" ]; then
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$pki/$1.ext"
    else
      printf 'extendedKeyUsage=clientAuth\n' >"$pki/$1.ext"
    fi
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
      -CAcreateserial -days 3650 -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
  }
  sign apiserver "/CN=kube-apiserver" \
    "IP:$node_ip,IP:127.0.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  sign kubelet "/CN=$node_name" "IP:$node_ip,DNS:$node_name"
  sign admin "/O=system:masters/CN=redisible-admin"
}

write_kubeconfig() { # write_kubeconfig PATH SERVER
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      certificate-authority: $state/pki/ca.crt
      server: $2
users:
  - name: admin
    user:
      client-certificate: $state/pki/admin.crt
      client-key: $state/pki/admin.key
contexts:
  - name: local
    context: {cluster: local, user: admin}
current-context: local
EOF
}

setup_network() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$node_ip/16" dev "$bridge"
  fi
  ip link set "$bridge" up
  sysctl -qw net.ipv4.ip_forward=1
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && \
    sysctl -qw net.bridge.bridge-nf-call-iptables=1 || true
  # Pods talk to each other and to the node over the bridge, nowhere else.
  iptables -C FORWARD -s "$pod_cidr" ! -o "$bridge" -j DROP 2>/dev/null || \
    iptables -I FORWARD -s "$pod_cidr" ! -o "$bridge" -j DROP
  mkdir -p "$state/cni/net.d" "$state/cni/ipam"
  cat >"$state/cni/net.d/10-redisible.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "redisible",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false,
     "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$state/cni/ipam",
              "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_etcd() {
  start etcd etcd --name local --data-dir "$state/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster local=http://127.0.0.1:2380 --quota-backend-bytes 2147483648
  wait_for 60 etcd curl -fsS http://127.0.0.1:2379/health
}

start_containerd() {
  mkdir -p "$state/containerd"
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails in runc.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
EOF
  if ! running containerd; then
    # Pod sandboxes of a previous run (its processes were killed, not stopped) keep their
    # network namespaces and addresses on the bridge: remove them before IPs are reused.
    stop_shims
    for netns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
      ip netns delete "$netns" 2>/dev/null || true
    done
  fi
  start containerd containerd --config "$state/containerd/config.toml"
  wait_for 60 containerd ctr --address "$sock" version
}

start_control_plane() {
  local pki=$state/pki
  write_kubeconfig "$kubeconfig" "https://$node_ip:6443"
  start kube-apiserver kube-apiserver \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$node_ip" --advertise-address="$node_ip" --secure-port=6443 \
    --service-cluster-ip-range="$service_cidr" \
    --client-ca-file="$pki/ca.crt" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --enable-admission-plugins=NodeRestriction
  wait_for 120 kube-apiserver kubectl --kubeconfig "$kubeconfig" get --raw /readyz
  start kube-controller-manager kube-controller-manager --kubeconfig="$kubeconfig" \
    --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --cluster-signing-cert-file="$pki/ca.crt" \
    --cluster-signing-key-file="$pki/ca.key" --root-ca-file="$pki/ca.crt" \
    --service-account-private-key-file="$pki/sa.key" --use-service-account-credentials=true \
    --controllers='*,-nodeipam' --leader-elect=false
  start kube-scheduler kube-scheduler --kubeconfig="$kubeconfig" \
    --authentication-kubeconfig="$kubeconfig" --authorization-kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false
}

start_node() {
  mkdir -p "$state/kubelet"
  cat >"$state/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $state/pki/kubelet.crt
tlsPrivateKeyFile: $state/pki/kubelet.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$sock
# root here lacks CAP_SYS_RESOURCE (see ../shared/facts.md).
oomScoreAdj: 0
failSwapOn: false
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 110
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
EOF
  start kubelet kubelet --config="$state/kubelet/config.yaml" --kubeconfig="$kubeconfig" \
    --hostname-override="$node_name" --node-ip="$node_ip" --root-dir="$state/kubelet/root"
  start kube-proxy kube-proxy --kubeconfig="$kubeconfig" --hostname-override="$node_name" \
    --cluster-cidr="$pod_cidr" --proxy-mode=iptables --bind-address=127.0.0.1 \
    --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
  wait_for 180 "node Ready" kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready \
    "node/$node_name" --timeout=5s
}

start_dns() {
  # CoreDNS runs on the node (the bridge address); the kube-dns Service (the kubelet's
  # clusterDNS) points at it through a selector-less EndpointSlice.
  mkdir -p "$state/coredns"
  cat >"$state/coredns/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    bind $node_ip
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
.:53 {
    bind $node_ip
    errors
    forward . /etc/resolv.conf
    cache 30
}
EOF
  start coredns coredns -conf "$state/coredns/Corefile"
  kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: 10.96.0.10
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns}
addressType: IPv4
endpoints:
  - addresses: [$node_ip]
ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
  # Through the Service address, as a pod asks.
  wait_for 120 "cluster DNS" sh -c \
    "dig +short +time=2 +tries=1 @10.96.0.10 kubernetes.default.svc.cluster.local | grep -qx 10.96.0.1"
}

images() {
  "$here/images.sh" "$sock"
}

storage() {
  start provisioner "$root/.venv/bin/python" "$here/provisioner.py" --kubeconfig "$kubeconfig" \
    --root "$state/volumes"
  kubectl --kubeconfig "$kubeconfig" apply -f "$here/storageclass.yaml" >/dev/null
}

up() {
  build_components
  prepare
  start_control_plane
  start_node
  start_dns
  storage
  log "ready: export KUBECONFIG=$kubeconfig"
}

down() {
  for name in provisioner coredns kube-proxy kubelet kube-scheduler kube-controller-manager \
              kube-apiserver containerd etcd; do
    if running "$name"; then
      kill "$(cat "$state/run/$name.pid")" 2>/dev/null || true
      log "stopped $name"
    fi
    rm -f "$state/run/$name.pid"
  done
  # Containers outlive containerd's daemon: stop their shims, then release their mounts.
  stop_shims
  sleep 1
  awk -v root="$state/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | \
    while read -r mountpoint; do umount -l "$mountpoint" 2>/dev/null || true; done
}

status() {
  for name in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet \
              kube-proxy coredns provisioner; do
    if running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
  done
  [ -f "$kubeconfig" ] && kubectl --kubeconfig "$kubeconfig" get nodes 2>/dev/null || true
}

prepare() { # everything that does not need the Kubernetes binaries
  install_packages
  make_pki
  setup_network
  start_etcd
  start_containerd
  images
}

case "${1:-}" in
  up) up ;;
  prepare) prepare ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$kubeconfig" ;;
  *) echo "usage: $0 up|prepare|down|status|env" >&2; exit 2 ;;
esac
