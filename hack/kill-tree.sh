#!/usr/bin/env bash
# kill-tree.sh PID...: SIGKILL each PID and every process below it. Runs that the process
# started in sessions of their own (ansible-runner's playbooks) are still its descendants, so
# this reaches them without matching command lines (pkill -f can hit unrelated processes).
# The whole tree is collected before anything is killed: orphans would lose their parent.
set -u
[ $# -gt 0 ] || exit 0
table=$(ps -e -o pid= -o ppid=)
victims=()
queue=("$@")
while [ ${#queue[@]} -gt 0 ]; do
  pid=${queue[0]}
  queue=("${queue[@]:1}")
  [[ $pid =~ ^[0-9]+$ ]] || continue
  victims+=("$pid")
  while read -r child parent; do
    [ "$parent" = "$pid" ] && queue+=("$child")
  done <<<"$table"
done
kill -9 "${victims[@]}" 2>/dev/null
exit 0
