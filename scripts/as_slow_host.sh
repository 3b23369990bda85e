#!/usr/bin/env bash
# Run a command as on a slower host: every process it starts shares a CPU quota (a cgroup).
#   scripts/as_slow_host.sh 0.2 ./scripts/test.sh     # 0.2 of one core for all of it
# With 0.2, a pure-Python loop of 10M additions takes about as long as on the slow machine
# of issue #19 (see the README's "Tests on a slow host"). Needs root and the cgroup cpu
# controller (v1 or v2).
set -euo pipefail
cores="$1"
shift
period=100000
quota=$(awk -v c="$cores" -v p="$period" 'BEGIN { printf "%d", c * p }')
name="rag-pipeline-slow-host-$$"
if [ -d /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    group="/sys/fs/cgroup/cpu/$name"
    mkdir "$group"
    echo "$period" > "$group/cpu.cfs_period_us"
    echo "$quota" > "$group/cpu.cfs_quota_us"
else
    group="/sys/fs/cgroup/$name"
    mkdir "$group"
    echo "$quota $period" > "$group/cpu.max"
fi
cleanup() {
    # Move this shell back to the root group so the empty group can be removed.
    # A server the command stopped may still be exiting: wait for the group to empty.
    echo $$ > "$(dirname "$group")/cgroup.procs" 2>/dev/null || true
    for _ in $(seq 30); do
        rmdir "$group" 2>/dev/null && return 0
        sleep 1
    done
    echo "warning: $group still holds processes" >&2
}
trap cleanup EXIT
echo $$ > "$group/cgroup.procs"
"$@"
