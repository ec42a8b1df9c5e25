#!/usr/bin/env bash
# A multi-host test bed on this machine: network namespaces as hosts, each with its own addresses,
# joined by veth pairs to a bridge in a namespace of its own. Needs root and iproute2.
#
#   scripts/hosts.sh up BED N        hosts BED-h1 … BED-hN, host i at 198.18.0.(10+i)/24 and
#                                    fd00:198:18::(10+i)/64; the bridge in BED-br
#   scripts/hosts.sh down BED        removes every namespace of the bed (safe to repeat)
#   scripts/hosts.sh cut BED I       takes host I's link down (its veth end at the bridge)
#   scripts/hosts.sh heal BED I      brings it back
#   scripts/hosts.sh exec BED I CMD… runs CMD on host I
#   scripts/hosts.sh sweep PREFIX    removes beds named PREFIX<pid>x<n> whose process <pid> has ended
#   scripts/hosts.sh check           exits 0 when this machine can make namespaces, else says why
#
# BED is at most 24 characters (letters, digits, '-'), unique per run. Addresses come from
# 198.18.0.0/15 (reserved for benchmarking, never routed) and a ULA prefix, only inside the bed.
set -euo pipefail

die() { echo "hosts.sh: $*" >&2; exit 1; }
IP=$(command -v ip || true)
[ -n "$IP" ] || { [ -x /usr/sbin/ip ] && IP=/usr/sbin/ip; } || true
[ -n "$IP" ] || { [ -x /sbin/ip ] && IP=/sbin/ip; } || true

need() {
    [ -n "$IP" ] || die "iproute2 ('ip') is not installed (scripts/setup.sh installs it)"
    [ "$(id -u)" -eq 0 ] || die "network namespaces need root"
}

name_ok() { [[ "$1" =~ ^[A-Za-z0-9-]{1,24}$ ]] || die "bad bed name '$1' (1-24 letters, digits, '-')"; }

up() {
    local bed=$1 count=$2
    name_ok "$bed"
    [[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 40 ] || die "host count must be 1 to 40"
    # Another run's bed of the same name is not ours to take (or to remove on a failure).
    if "$IP" netns list 2>/dev/null | awk '{print $1}' | grep -qx "$bed-br"; then die "a bed named $bed exists already"; fi
    # A failure half way removes what was made.
    trap 'down "$bed" >/dev/null 2>&1 || true' ERR
    "$IP" netns add "$bed-br"
    "$IP" -n "$bed-br" link set lo up
    "$IP" -n "$bed-br" link add br0 type bridge
    "$IP" -n "$bed-br" link set br0 up
    for i in $(seq 1 "$count"); do
        local host="$bed-h$i"
        "$IP" netns add "$host"
        "$IP" -n "$host" link set lo up
        "$IP" link add eth0 netns "$host" type veth peer name "h$i" netns "$bed-br"
        "$IP" -n "$bed-br" link set "h$i" master br0
        "$IP" -n "$bed-br" link set "h$i" up
        "$IP" -n "$host" addr add "198.18.0.$((10 + i))/24" dev eth0
        "$IP" -n "$host" addr add "fd00:198:18::$((10 + i))/64" dev eth0 nodad
        "$IP" -n "$host" link set eth0 up
    done
    trap - ERR
}

down() {
    local bed=$1
    name_ok "$bed"
    local namespace
    for namespace in $("$IP" netns list 2>/dev/null | awk '{print $1}' | grep -E "^$bed-(br|h[0-9]+)$" || true); do
        "$IP" netns pids "$namespace" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        "$IP" netns del "$namespace" 2>/dev/null || true
    done
}

link() {
    local bed=$1 host=$2 state=$3
    name_ok "$bed"
    [[ "$host" =~ ^[0-9]+$ ]] || die "bad host number '$host'"
    "$IP" -n "$bed-br" link set "h$host" "$state"
}

sweep() {
    local prefix=$1 bed pid
    for bed in $("$IP" netns list 2>/dev/null | awk '{print $1}' | grep -E "^$prefix[0-9]+x[0-9]+-br$" | sed 's/-br$//' || true); do
        pid=${bed#"$prefix"}
        pid=${pid%%x*}
        kill -0 "$pid" 2>/dev/null || down "$bed"
    done
}

check() {
    need
    local probe="pdchk$$"
    "$IP" netns add "$probe" 2>/dev/null || die "cannot create a network namespace here"
    "$IP" netns del "$probe"
}

[ $# -ge 1 ] || die "usage: hosts.sh up|down|cut|heal|exec|sweep|check …"
command=$1; shift
case "$command" in
    up) need; [ $# -eq 2 ] || die "usage: hosts.sh up BED N"; up "$1" "$2" ;;
    down) need; [ $# -eq 1 ] || die "usage: hosts.sh down BED"; down "$1" ;;
    cut) need; [ $# -eq 2 ] || die "usage: hosts.sh cut BED I"; link "$1" "$2" down ;;
    heal) need; [ $# -eq 2 ] || die "usage: hosts.sh heal BED I"; link "$1" "$2" up ;;
    exec) need; [ $# -ge 3 ] || die "usage: hosts.sh exec BED I CMD…"; bed=$1 host=$2; shift 2; name_ok "$bed"; exec "$IP" netns exec "$bed-h$host" "$@" ;;
    sweep) need; [ $# -eq 1 ] || die "usage: hosts.sh sweep PREFIX"; sweep "$1" ;;
    check) check ;;
    *) die "unknown command '$command'" ;;
esac
